// Pictures and PDFs in the console: a supporter sends one to the customer of
// a chat they serve, and sees the thumbnails of pictures either side sent.
// Beside console.js, without changing it: chat panels (id "panel-<contact>")
// get a small upload form, and message items of kind "file" get their
// thumbnail from the attachment cards the frames carried. Files come from
// the console's authorised URLs (session cookie), never from a public one.
import { el, loadStrings } from "./socket.js";

const S = (() => {
  const node = document.getElementById("console-attachment-strings");
  try {
    return node ? JSON.parse(node.textContent) : {};
  } catch (err) {
    return loadStrings();
  }
})();
const cards = new Map(); // `${contact}:${seq}` -> attachment card

function consoleUrl(contact, card, thumb) {
  const base = `/api/console/contacts/${encodeURIComponent(contact)}/attachments/${encodeURIComponent(card.id)}`;
  return thumb ? `${base}?size=thumb` : base;
}

function remember(contact, message) {
  const card = message && message.payload && message.payload.attachment;
  if (message && message.kind === "file" && card && typeof card.id === "string") {
    cards.set(`${contact}:${message.seq}`, card);
  }
}

document.addEventListener("helpdesk:frame", (event) => {
  const frame = event.detail.frame;
  if (frame.type === "welcome") {
    (frame.contacts || []).forEach((c) => (c.messages || []).forEach((m) => remember(c.id, m)));
  } else if (frame.type === "message.new" || frame.type === "message.ack") {
    remember(frame.contact, frame.message);
  } else if (frame.type === "replay" || frame.type === "messages") {
    (frame.messages || []).forEach((m) => remember(frame.contact, m));
  }
  setTimeout(decorateAll, 0); // after console.js has drawn the frame
});

function decorate(li, contact) {
  if (li.dataset.attachmentDone) return;
  const card = cards.get(`${contact}:${li.dataset.seq}`);
  if (!card) return;
  li.dataset.attachmentDone = "1";
  if (card.kind === "image") {
    const img = el("img", {
      class: "attachment-thumb",
      src: consoleUrl(contact, card, Boolean(card.thumbnail_url)),
      alt: S.picture || "",
      width: card.width,
      height: card.height,
      loading: "lazy",
    });
    li.append(el("a", { href: consoleUrl(contact, card, false), target: "_blank", rel: "noopener" }, img));
  } else {
    li.append(el("a", { href: consoleUrl(contact, card, false), download: "", text: S.pdf || "PDF" }));
  }
}

function decorateAll() {
  document.querySelectorAll(".chat-panel[id^='panel-']").forEach((panel) => {
    const contact = panel.id.slice("panel-".length);
    panel.querySelectorAll("li.kind-file[data-seq]").forEach((li) => decorate(li, contact));
    if (!panel.querySelector(".attach-form")) addForm(panel, contact);
  });
}

function csrfToken() {
  const field = document.querySelector("input[name=csrfmiddlewaretoken]");
  if (field) return field.value;
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

function addForm(panel, contact) {
  const composer = panel.querySelector(".composer");
  if (!composer) return;
  const inputId = `attach-${contact}`;
  const status = el("p", { class: "attach-status", role: "status", "aria-live": "polite" });
  const input = el("input", { id: inputId, type: "file", accept: "image/jpeg,image/png,image/webp,image/gif,application/pdf" });
  const form = el(
    "form",
    { class: "attach-form" },
    el("label", { for: inputId, text: S.send || "Send a picture or PDF" }),
    input,
    status,
  );
  form.addEventListener("submit", (e) => e.preventDefault());
  input.addEventListener("change", async () => {
    const file = input.files && input.files[0];
    input.value = "";
    if (!file) return;
    const body = new FormData();
    body.append("file", file, file.name || "file");
    status.textContent = S.sending || "";
    try {
      const response = await fetch(`/api/console/contacts/${encodeURIComponent(contact)}/attachments`, {
        method: "POST",
        headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
        credentials: "same-origin",
        body,
      });
      if (response.ok) {
        const answer = await response.json().catch(() => ({}));
        remember(contact, answer.message);
        status.textContent = "";
        setTimeout(decorateAll, 0);
        return;
      }
      const answer = await response.json().catch(() => ({}));
      const byCode = { too_large: S.tooLarge, wrong_type: S.wrongType, type_mismatch: S.wrongType, unreadable_pdf: S.unreadablePdf };
      status.textContent = byCode[answer.error] || S.failed;
    } catch (err) {
      status.textContent = S.failed || "";
    }
  });
  composer.after(form);
}

const panels = document.getElementById("chat-panels");
if (panels) {
  new MutationObserver(() => decorateAll()).observe(panels, { childList: true, subtree: true });
  decorateAll();
}
