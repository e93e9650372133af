#!/usr/bin/env bash
# Browser libraries from the npm registry, copied into git-ignored static folders.
# The pages work without them and say what is off. Safe to run again; quiet
# when npm is missing or the registry cannot be reached.
set -uo pipefail
cd "$(dirname "$0")/.."

VOICE_SDK_VERSION="${VOICE_SDK_VERSION:-2.18.5}"
VOICE_DEST="realtime/telephony/static/telephony/vendor/twilio-voice"

if ! command -v npm >/dev/null 2>&1; then
  echo "==> npm not found: the browser softphone stays off (supporters answer on their own phone)"
  exit 0
fi
if [ -f "$VOICE_DEST/twilio.min.js" ] && [ "$(cat "$VOICE_DEST/VERSION" 2>/dev/null)" = "$VOICE_SDK_VERSION" ]; then
  exit 0
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "==> installing @twilio/voice-sdk@$VOICE_SDK_VERSION (browser softphone)"
if (cd "$work" && npm init -y >/dev/null 2>&1 \
    && timeout 120 npm install --no-audit --no-fund --ignore-scripts --silent --fetch-retries 1 --fetch-timeout 20000 "@twilio/voice-sdk@$VOICE_SDK_VERSION" >/dev/null 2>&1); then
  src="$work/node_modules/@twilio/voice-sdk/dist"
  if [ -f "$src/twilio.min.js" ]; then
    mkdir -p "$VOICE_DEST"
    cp "$src/twilio.min.js" "$VOICE_DEST/twilio.min.js"
    cp "$work/node_modules/@twilio/voice-sdk/LICENSE.md" "$VOICE_DEST/" 2>/dev/null || true
    echo "$VOICE_SDK_VERSION" > "$VOICE_DEST/VERSION"
    exit 0
  fi
fi
echo "==> could not install @twilio/voice-sdk: the browser softphone stays off"
exit 0
