// Warm transfer of a phone call in the console. The serving supporter picks a
// colleague (or a provider: anyone available there) and stays on the line; the
// asked supporter sees a request with "take the call" and "decline"; once they
// are on the line the first supporter hands over (and drops) or cancels. The
// server sends each state as a "phone.transfer" frame to both sides; nothing
// here ever shows a caller's number (the frames carry none).

import { fmt, make, postJson } from "./phone-dom.js";

// An open transfer only moves forward. The answer to a POST can come after a
// frame that already moved it on (the target's softphone answers at once, so
// "joined" may beat the answer to "take the call"): an older state is ignored.
const OPEN_ORDER = { asking: 0, connecting: 1, joined: 2 };
const isBehind = (current, next) =>
  current in OPEN_ORDER && next in OPEN_ORDER && OPEN_ORDER[next] < OPEN_ORDER[current];

const consoleData = () => {
  const node = document.getElementById("console-data");
  try {
    return node ? JSON.parse(node.textContent) : {};
  } catch (_e) {
    return {};
  }
};

export class WarmTransfers {
  constructor(phone, strings) {
    this.phone = phone;
    this.S = strings;
    this.requests = new Map(); // transfer id -> request card (asked of me)
    this.groups = consoleData().transfer_groups || [];
    this.me = (consoleData().supporter || {}).id;
    this.list = make("ul", { id: "phone-requests", class: "phone-requests" });
    this.notice = make("p", { id: "phone-requests-notice", class: "phone-note", role: "status" });
    phone.section.append(this.notice, this.list);
  }

  // A reloaded (or reconnected) console reads the open transfers again: the
  // frames that told the earlier page are gone with it.
  async restore() {
    let data;
    try {
      const response = await fetch("/telephony/transfers", { credentials: "same-origin" });
      if (!response.ok) return;
      data = await response.json();
    } catch (_e) {
      return;
    }
    const open = new Set();
    for (const frame of data.transfers || []) {
      if (frame.role === "from") {
        const card = this.phone.cards.get(frame.contact);
        if (!card) continue;
        card.transfer = frame.transfer;
        this.show(card, frame.state, frame.reason || "");
      } else {
        open.add(frame.transfer);
        this.request(frame);
        this.requestState(this.requests.get(frame.transfer), frame.state, "");
      }
    }
    for (const request of [...this.requests.values()]) {
      if (!open.has(request.id)) this.requestState(request, "cancelled", "");
    }
  }

  // --- the serving supporter's side ------------------------------------------

  controls(card) {
    const S = this.S;
    const select = make("select", { class: "warm-target", id: `warm-target-${card.contact.id}`, required: "" });
    for (const group of this.groups) {
      const optgroup = make("optgroup", { label: group.name });
      optgroup.append(make("option", { value: `to_provider:${group.id}`, text: fmt(S.warmQueue, { name: group.name }) }));
      for (const person of group.supporters || []) {
        if (person.id === this.me) continue;
        optgroup.append(make("option", { value: `to_supporter:${person.id}`, text: person.display_name }));
      }
      select.append(optgroup);
    }
    const note = make("input", { class: "warm-note", id: `warm-note-${card.contact.id}`, type: "text", maxlength: "500" });
    card.warmState = make("p", { class: "warm-state", role: "status", "aria-live": "polite" });
    card.warmHandOver = make("button", { type: "button", class: "warm-complete", text: S.warmHandOver, hidden: "", onclick: () => this.act(card, "complete") });
    card.warmCancel = make("button", { type: "button", class: "warm-cancel secondary", text: S.warmCancel, hidden: "", onclick: () => this.act(card, "cancel") });
    card.warmStart = make("button", { type: "button", class: "warm-start", text: S.warmStart, onclick: () => this.start(card, select, note) });
    const box = make(
      "details",
      { class: "warm-transfer" },
      make("summary", { text: S.warmTransfer }),
      make("label", { for: select.id, text: S.warmTarget }),
      select,
      make("label", { for: note.id, text: S.warmNote }),
      note,
      make("p", { class: "warm-buttons" }, card.warmStart, card.warmHandOver, card.warmCancel),
      card.warmState,
    );
    if (card.transfer) this.show(card, card.transferState, card.transferReason);
    return box;
  }

  async start(card, select, note) {
    const [field, value] = String(select.value || "").split(":");
    if (!field || !value) return;
    const body = { [field]: Number(value), note: note.value.trim() };
    const { ok, data } = await postJson(`/telephony/contacts/${encodeURIComponent(card.contact.id)}/warm-transfer`, body);
    if (!ok) {
      card.warmState.textContent = fmt(this.S.failed, { detail: data.detail || "" });
      return;
    }
    card.transfer = data.transfer;
    card.transferState = null; // a new transfer: the last one's state says nothing of it
    this.show(card, data.state, "");
  }

  async act(card, action) {
    if (!card.transfer) return;
    const { ok, data } = await postJson(`/telephony/transfers/${card.transfer}/${action}`);
    if (!ok) card.warmState.textContent = fmt(this.S.failed, { detail: data.detail || "" });
    else this.show(card, data.state, "");
  }

  show(card, state, reason) {
    const S = this.S;
    if (isBehind(card.transferState, state)) return;
    card.transferState = state;
    card.transferReason = reason;
    const texts = {
      asking: S.warmAsking,
      connecting: S.warmConnecting,
      joined: S.warmJoined,
      handed_over: S.warmHandedOver,
      cancelled: reason === "caller_gone" ? S.warmCallerGone : S.warmCancelled,
      declined: reason === "not_answered" ? S.warmNotAnswered : S.warmDeclined,
    };
    if (!card.warmState) return;
    card.warmState.textContent = texts[state] || "";
    card.li.dataset.transfer = state;
    const open = ["asking", "connecting", "joined"].includes(state);
    card.warmStart.hidden = open || state === "handed_over";
    card.warmHandOver.hidden = state !== "joined";
    card.warmCancel.hidden = !open;
    if (!open) card.transfer = state === "handed_over" ? card.transfer : null;
  }

  // --- the asked supporter's side -------------------------------------------------

  onFrame(frame) {
    const card = this.phone.cards.get(frame.contact);
    if (card && card.transfer === frame.transfer) {
      this.show(card, frame.state, frame.reason || "");
      return;
    }
    if (frame.state === "asking" && frame.from_name !== undefined) {
      this.request(frame);
      return;
    }
    const request = this.requests.get(frame.transfer);
    if (request) this.requestState(request, frame.state, frame.reason || "");
  }

  request(frame) {
    const S = this.S;
    if (this.requests.has(frame.transfer)) return;
    const li = make("li", { class: "phone-request", "data-transfer": String(frame.transfer) });
    const request = { id: frame.transfer, li, note: make("p", { class: "phone-note", role: "status" }) };
    const buttons = make("p", { class: "phone-actions" });
    // A request read back after a reload may come before the softphone is ready.
    request.browser = make("button", { type: "button", class: "request-browser", text: S.requestBrowser, onclick: () => this.accept(request, "browser") });
    request.browser.hidden = !this.phone.ready;
    buttons.append(
      request.browser,
      make("button", { type: "button", class: "request-phone secondary", text: S.requestPhone, onclick: () => this.accept(request, "phone") }),
      make("button", { type: "button", class: "request-decline secondary", text: S.requestDecline, onclick: () => this.decline(request) }),
    );
    request.buttons = buttons;
    li.append(make("p", { text: fmt(S.requestTitle, { name: frame.from_name || "", caller: frame.pseudonym || "" }) }));
    if (frame.note) li.append(make("p", { class: "phone-request-note", text: frame.note }));
    li.append(buttons, request.note);
    this.requests.set(frame.transfer, request);
    this.list.append(li);
  }

  // The softphone became ready (or failed): the requests' browser buttons follow it.
  softphone(ready) {
    for (const request of this.requests.values()) request.browser.hidden = !ready;
  }

  async accept(request, via) {
    const body = { via };
    if (via === "phone") {
      body.number = this.phone.ownNumber.value.trim();
      if (!body.number) {
        request.note.textContent = this.S.needNumber;
        this.phone.ownNumber.focus();
        return;
      }
    }
    const { ok, data } = await postJson(`/telephony/transfers/${request.id}/accept`, body);
    if (!ok) request.note.textContent = fmt(this.S.failed, { detail: data.detail || "" });
    else this.requestState(request, data.state);
  }

  async decline(request) {
    const { ok, data } = await postJson(`/telephony/transfers/${request.id}/decline`);
    if (!ok) request.note.textContent = fmt(this.S.failed, { detail: data.detail || "" });
    else this.requestState(request, data.state);
  }

  requestState(request, state, reason) {
    if (!request || isBehind(request.li.dataset.state, state)) return;
    request.li.dataset.state = state;
    if (reason === "caller_gone") this.notice.textContent = this.S.requestCallerGone;
    if (state === "connecting") {
      request.buttons.hidden = true;
      request.note.textContent = this.S.requestJoining;
    } else if (state === "joined") {
      request.buttons.hidden = true; // read back after a reload: it never saw "connecting"
      request.note.textContent = this.S.requestJoined;
    } else if (state !== "asking") {
      // Handed over (the call's own card takes over), declined or cancelled.
      request.li.remove();
      this.requests.delete(request.id);
    }
  }
}
