// Labels, canned replies and transfer targets for the supporter console, in
// the page's language (fi/sv/en). The page embeds code -> label tables
// (helpdesk/console_labels.py); nothing here shows a raw code to a volunteer.
import { el, fmt } from "./socket.js";

const PSEUDONYM = /^(?:Asiakas|Kund|Customer)\s+(\d+)$/;

export function makeLabels(data, strings) {
  const t = (data && data.labels) || {};
  const pick = (table, code) => (code && t[table] && t[table][code]) || code || "";
  return {
    state: (code) => pick("states", code),
    channel: (code) => pick("channels", code),
    language: (code) => pick("languages", code),
    topic: (code) => pick("topics", code),
    presence: (code) => pick("presence", code),
    municipality: (name) => (name && t.municipalities && t.municipalities[name]) || name || "",
    // Pseudonyms are stored in the site's language; show them in the viewer's.
    pseudonym: (name) => {
      const m = PSEUDONYM.exec(name || "");
      return m ? `${strings.customer} ${m[1]}` : name || "";
    },
  };
}

/** Canned replies of the contact's language only, then the rest; none if none exist. */
export function repliesFor(data, language) {
  const all = (data && data.canned_replies) || [];
  return all.filter((r) => r.language === language);
}

/** Fill the canned-reply select with the contact's language's replies. */
export function fillCanned(select, replies) {
  select.replaceChildren(el("option", { value: "", text: "—" }));
  replies.forEach((r) => select.append(el("option", { value: String(r.id), text: r.title })));
  select.disabled = replies.length === 0;
}

/**
 * The "/" shortcut: typing "/" then a few letters of a title in an empty
 * message box lists the matching replies; Enter or a click puts the reply in
 * the box. Returns true when it handled the key.
 */
export function attachSlash(textarea, getReplies, strings) {
  const list = el("ul", { class: "slash-list", role: "listbox", "aria-label": strings.cannedShortcut, hidden: true });
  textarea.insertAdjacentElement("afterend", list);
  textarea.setAttribute("aria-describedby", attachHint(textarea, strings));
  let matches = [];
  let index = 0;
  const close = () => {
    list.hidden = true;
    matches = [];
    textarea.removeAttribute("aria-activedescendant");
  };
  const choose = (reply) => {
    textarea.value = reply.body;
    close();
    textarea.focus();
  };
  const render = () => {
    list.replaceChildren(
      ...matches.map((r, i) =>
        el("li", {
          role: "option",
          id: `${textarea.id || "body"}-slash-${i}`,
          "aria-selected": i === index ? "true" : "false",
          class: i === index ? "active" : "",
          text: r.title,
          onmousedown: (e) => {
            e.preventDefault();
            choose(r);
          },
        }),
      ),
    );
    list.hidden = matches.length === 0;
    if (matches.length) textarea.setAttribute("aria-activedescendant", `${textarea.id || "body"}-slash-${index}`);
  };
  textarea.addEventListener("input", () => {
    const value = textarea.value;
    if (!value.startsWith("/") || value.includes("\n")) return close();
    const q = value.slice(1).trim().toLowerCase();
    matches = getReplies().filter((r) => !q || r.title.toLowerCase().includes(q) || r.body.toLowerCase().includes(q)).slice(0, 8);
    index = 0;
    render();
  });
  textarea.addEventListener("blur", () => setTimeout(close, 150));
  return (e) => {
    if (list.hidden || !matches.length) return false;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      index = (index + (e.key === "ArrowDown" ? 1 : matches.length - 1)) % matches.length;
      render();
      e.preventDefault();
      return true;
    }
    if (e.key === "Enter" || e.key === "Tab") {
      e.preventDefault();
      choose(matches[index]);
      return true;
    }
    if (e.key === "Escape") {
      close();
      return true;
    }
    return false;
  };
}

function attachHint(textarea, strings) {
  const id = `${textarea.id || "body"}-hint`;
  if (!document.getElementById(id)) {
    textarea.insertAdjacentElement("afterend", el("span", { id, class: "hint slash-hint", text: strings.cannedHint }));
  }
  return id;
}

/**
 * Transfer targets grouped by provider (own providers first): the provider's
 * queue with how many are available, then its people with their presence.
 * Offline colleagues are disabled; nothing is preselected.
 */
export function fillTransfer(select, data, labels, strings) {
  select.replaceChildren(el("option", { value: "", text: strings.chooseTarget, selected: true }));
  for (const group of (data && data.transfer_groups) || []) {
    const og = el("optgroup", { label: fmt(strings.providerGroup, { name: group.name, available: group.available }) });
    og.append(
      el("option", {
        value: `to_provider:${group.id}`,
        text: fmt(group.available ? strings.providerQueue : strings.providerQueueNobody, {
          name: group.name,
          available: group.available,
        }),
      }),
    );
    for (const s of group.supporters) {
      og.append(
        el("option", {
          value: `to_supporter:${s.id}`,
          disabled: s.presence === "offline",
          text: `${s.display_name} (${labels.presence(s.presence)})`,
        }),
      );
    }
    select.append(og);
  }
  const regions = ((data && data.transfer_targets) || {}).regions || [];
  if (regions.length) {
    const og = el("optgroup", { label: strings.regions });
    regions.forEach((r) => og.append(el("option", { value: `to_region:${r.code}`, text: r.name })));
    select.append(og);
  }
  select.value = "";
}
