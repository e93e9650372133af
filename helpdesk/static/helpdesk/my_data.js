// The customer's own data on the chat page: download it (text or JSON) and
// delete it (docs/protocol.md, "Your data"). The contact's id and token are
// the ones customer.js keeps in localStorage; nothing here talks to the socket.

const KEY_CONTACT = "digituki.contact";

function saved() {
  try {
    const raw = localStorage.getItem(KEY_CONTACT);
    const value = raw ? JSON.parse(raw) : null;
    return value && value.id && value.token ? value : null;
  } catch (err) {
    return null;
  }
}

function say(box, text) {
  box.querySelector("[data-my-data-status]").textContent = text;
}

async function call(method, path) {
  const contact = saved();
  if (!contact) throw new Error("no contact");
  const response = await fetch(`/api/contacts/${encodeURIComponent(contact.id)}${path}`, {
    method,
    headers: { "X-Contact-Token": contact.token },
  });
  if (!response.ok) throw new Error(String(response.status));
  return response;
}

async function download(box, path, filename) {
  try {
    const blob = await (await call("GET", path)).blob();
    const url = URL.createObjectURL(blob);
    const link = document.createElement("a");
    link.href = url;
    link.download = filename;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (err) {
    say(box, box.dataset.failed);
  }
}

function setup(box) {
  if (!saved()) return;
  box.hidden = false;
  const confirmBox = box.querySelector("[data-my-data-confirm]");
  box.querySelector("[data-my-data-text]").addEventListener("click", () =>
    download(box, "/transcript", "digituki-chat.txt"),
  );
  box.querySelector("[data-my-data-json]").addEventListener("click", () =>
    download(box, "/export", "digituki-chat.json"),
  );
  box.querySelector("[data-my-data-delete]").addEventListener("click", () => {
    confirmBox.hidden = false;
    confirmBox.querySelector("button").focus();
  });
  box.querySelector("[data-my-data-cancel]").addEventListener("click", () => {
    confirmBox.hidden = true;
  });
  box.querySelector("[data-my-data-really]").addEventListener("click", async () => {
    try {
      await call("DELETE", "/");
      localStorage.removeItem(KEY_CONTACT);
      confirmBox.hidden = true;
      box.querySelectorAll("button").forEach((b) => (b.disabled = true));
      say(box, box.dataset.deleted);
      const app = document.getElementById("chat-app");
      if (app) app.querySelectorAll("#messages li").forEach((li) => li.remove());
    } catch (err) {
      say(box, box.dataset.failed);
    }
  });
}

const box = document.getElementById("my-data");
if (box) setup(box);
