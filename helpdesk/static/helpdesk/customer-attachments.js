// Pictures in the customer's chat: sending a photo or screenshot over HTTP
// with the contact token, and showing the pictures (and a supporter's PDFs)
// of the conversation. Files are never public: every read is a fetch with the
// token, shown through a blob: URL that lives as long as the page.
import { el, fmt, loadStrings, newId } from "./socket.js";

const S = loadStrings();
const ACCEPTED = new Set(["image/jpeg", "image/png", "image/webp", "image/gif"]);
const MAX_BYTES = 8 * 1024 * 1024; // the server decides; this only saves a useless upload

function saved() {
  try {
    return JSON.parse(localStorage.getItem("digituki.contact") || "null");
  } catch (err) {
    return null;
  }
}

/** The attachment card of a `file` message. */
export function attachmentOf(message) {
  const payload = (message && message.payload) || {};
  return payload.attachment && typeof payload.attachment === "object" ? payload.attachment : null;
}

async function fetchBlob(url, token) {
  const response = await fetch(url, { headers: { "X-Contact-Token": token } });
  if (!response.ok) throw new Error(String(response.status));
  return URL.createObjectURL(await response.blob());
}

function sameSite(url) {
  try {
    const parsed = new URL(url, window.location.origin);
    return parsed.origin === window.location.origin ? parsed.pathname + parsed.search : null;
  } catch (err) {
    return null;
  }
}

/** Fills `container` with a thumbnail (or a PDF button) for the message's attachment. */
export function renderAttachment(container, message) {
  const card = attachmentOf(message);
  const contact = saved();
  if (!card || !contact || !contact.token) return;
  const full = sameSite(card.url);
  if (!full) return;
  if (card.kind === "image") {
    const img = el("img", { class: "attachment-thumb", alt: S.attachmentAlt || "", width: card.width, height: card.height });
    const open = el("button", { type: "button", class: "link attachment-link", "aria-label": S.attachmentAlt || "" }, img);
    open.addEventListener("click", async () => {
      try {
        window.open(await fetchBlob(full, contact.token), "_blank", "noopener");
      } catch (err) {
        /* the thumbnail stays; the file may have been deleted */
      }
    });
    container.append(open);
    const thumb = sameSite(card.thumbnail_url || card.url);
    fetchBlob(thumb, contact.token)
      .then((blobUrl) => {
        img.src = blobUrl;
      })
      .catch(() => img.replaceWith(el("span", { text: S.attachmentAlt || "" })));
  } else {
    const button = el("button", { type: "button", class: "secondary attachment-link", text: S.attachmentPdf || "PDF" });
    button.addEventListener("click", async () => {
      try {
        const blobUrl = await fetchBlob(full, contact.token);
        const link = el("a", { href: blobUrl, download: "digituki.pdf" });
        document.body.append(link);
        link.click();
        link.remove();
      } catch (err) {
        /* nothing to open */
      }
    });
    container.append(button);
  }
}

function setupUpload() {
  const input = document.getElementById("attach-input");
  const status = document.getElementById("attach-status");
  if (!input || !status) return;
  input.addEventListener("change", async () => {
    const file = input.files && input.files[0];
    input.value = "";
    const contact = saved();
    if (!file || !contact || !contact.token) return;
    if (file.type && !ACCEPTED.has(file.type)) {
      status.textContent = S.attachWrongType;
      return;
    }
    if (file.size > MAX_BYTES) {
      status.textContent = fmt(S.attachTooLarge, { mb: Math.round(MAX_BYTES / 1024 / 1024) });
      return;
    }
    const form = new FormData();
    form.append("file", file, file.name || "picture");
    form.append("client_msg_id", newId());
    status.textContent = S.attachSending;
    try {
      const response = await fetch(`/api/contacts/${encodeURIComponent(contact.id)}/attachments`, {
        method: "POST",
        headers: { "X-Contact-Token": contact.token, Accept: "application/json" },
        body: form,
      });
      const answer = await response.json().catch(() => ({}));
      if (response.status === 201 || response.status === 200) {
        status.textContent = "";
        // The socket delivers the message.new; a page whose socket is down
        // gets it with the replay after the reconnect.
        document.dispatchEvent(new CustomEvent("helpdesk:attachment-sent", { detail: answer }));
        return;
      }
      if (response.status === 413) status.textContent = fmt(S.attachTooLarge, { mb: Math.round(MAX_BYTES / 1024 / 1024) });
      else if (response.status === 415) status.textContent = S.attachWrongType;
      else if (response.status === 429) status.textContent = S.error_rate_limited;
      else status.textContent = S.attachFailed;
      if (answer && answer.error) status.dataset.error = answer.error;
    } catch (err) {
      status.textContent = S.attachFailed;
    }
  });
}

if (document.getElementById("chat-app")) setupUpload();
