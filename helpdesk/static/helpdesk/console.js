// The supporter console: presence, offers with a countdown, the queue, several
// chats side by side as tabs, notes, canned replies, transfer/escalate/end and
// the knowledge panel. All actions are frames on /ws/console/ (docs/protocol.md).
import { ReconnectingSocket, el, fmt, loadStrings, newId, safeUrl, timeLabel, wsUrl } from "./socket.js";
import { attachSlash, fillCanned, fillTransfer, makeLabels, repliesFor } from "./console-labels.js";

const S = loadStrings();
const DATA = JSON.parse(document.getElementById("console-data").textContent);
const LANG = document.documentElement.lang || "fi";
const $ = (id) => document.getElementById(id);
const SERVED = new Set(["active", "on_hold"]);
const L = makeLabels(DATA, S);
// Frames the console sends by itself; an error answering one is never shown.
const QUIET = new Set(["typing", "receipt"]);
// How long a status chosen in this tab outlives the page (reload, lost network).
const PRESENCE_KEPT_MS = 5 * 60 * 1000;

class Chat {
  constructor(consoleApp, contact) {
    this.app = consoleApp;
    this.id = contact.id;
    this.contact = contact;
    this.lastSeq = 0; // highest seq shown (read receipts)
    this.resumeSeq = 0; // last seq of a welcome or message.new: where a resume starts
    this.unread = 0;
    this.pending = new Map(); // client_msg_id -> frame, resent after a reconnect
    this.suggestions = [];
    this.build();
  }

  build() {
    const panel = $("chat-panel-template").content.firstElementChild.cloneNode(true);
    panel.id = `panel-${this.id}`;
    panel.setAttribute("aria-labelledby", `tab-${this.id}`);
    this.panel = panel;
    this.list = panel.querySelector(".messages");
    this.list.setAttribute("aria-label", this.title());
    panel.querySelector(".chat-title").textContent = this.title();
    this.tab = el("button", {
      type: "button",
      role: "tab",
      id: `tab-${this.id}`,
      "aria-controls": panel.id,
      "aria-selected": "false",
      class: "chat-tab",
      onclick: () => this.app.activate(this.id),
    });
    this.tabLabel = el("span", { text: this.title() });
    this.badge = el("span", { class: "badge", hidden: true });
    this.tab.append(this.tabLabel, " ", this.badge);
    this.fillForms();
    this.bind();
    this.updateMeta();
    $("chat-tabs").append(this.tab);
    $("chat-panels").append(panel);
  }

  title() {
    const c = this.contact;
    return L.pseudonym(c.pseudonym) || `${S.customer} ${String(c.id).slice(0, 6)}`;
  }

  fillForms() {
    // Only the replies in the customer's language (issue 11: a Finnish
    // customer got an English greeting).
    fillCanned(this.panel.querySelector("select[name=canned]"), repliesFor(DATA, this.contact.language));
    fillTransfer(this.panel.querySelector("select[name=target]"), DATA, L, S);
    const outcome = this.panel.querySelector("select[name=outcome]");
    (DATA.outcomes || []).forEach((o) => outcome.append(el("option", { value: o.value, text: o.label })));
    const topic = this.panel.querySelector("select[name=topic]");
    for (const category of DATA.topics || []) {
      const group = el("optgroup", { label: category.name });
      category.topics.forEach((t) => group.append(el("option", { value: t.slug, text: t.name })));
      topic.append(group);
    }
    if (this.contact.topic) topic.value = this.contact.topic;
  }

  bind() {
    const form = this.panel.querySelector(".composer");
    const body = form.querySelector("textarea[name=body]");
    const noteBox = form.querySelector("input[name=note]");
    body.id = `body-${this.id}`;
    const slash = attachSlash(body, () => repliesFor(DATA, this.contact.language), S);
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.send(body, noteBox);
    });
    body.addEventListener("keydown", (e) => {
      if (slash(e)) return;
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.send(body, noteBox);
      }
    });
    let typingTimer = null;
    let typing = false;
    body.addEventListener("input", () => {
      if (noteBox.checked) return;
      if (!typing) this.app.send({ type: "typing", contact: this.id, active: true });
      typing = true;
      clearTimeout(typingTimer);
      typingTimer = setTimeout(() => {
        typing = false;
        this.app.send({ type: "typing", contact: this.id, active: false });
      }, 3000);
    });
    form.querySelector("select[name=canned]").addEventListener("change", (e) => {
      const reply = (DATA.canned_replies || []).find((r) => String(r.id) === e.target.value);
      if (reply) {
        body.value = reply.body;
        body.focus();
      }
      e.target.value = "";
    });
    this.panel.querySelector(".transfer-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const data = new FormData(e.target);
      const [field, value] = String(data.get("target") || "").split(":");
      if (!field || !value) return;
      // Supporters and providers are named by id, regions by their two-digit code.
      const target = field === "to_region" ? value : Number(value);
      this.app.send({ type: "contact.transfer", contact: this.id, [field]: target, note: data.get("note") || "" });
    });
    this.panel.querySelector(".escalate-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const note = new FormData(e.target).get("note") || "";
      this.app.send({ type: "contact.escalate", contact: this.id, note });
    });
    this.panel.querySelector(".end-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const data = new FormData(e.target);
      const frame = { type: "contact.end", contact: this.id, outcome: data.get("outcome") };
      if (data.get("topic")) frame.topic = data.get("topic");
      this.app.send(frame);
    });
    this.panel.querySelector("button.hold").addEventListener("click", () => this.app.send({ type: "hold", contact: this.id }));
    this.panel.querySelector("button.resume").addEventListener("click", () => this.app.send({ type: "resume", contact: this.id }));
  }

  send(body, noteBox) {
    const text = body.value.trim();
    if (!text) return;
    const frame = noteBox.checked
      ? { type: "note.add", contact: this.id, client_msg_id: newId(), body: text }
      : { type: "message.send", contact: this.id, client_msg_id: newId(), body: text };
    this.pending.set(frame.client_msg_id, frame);
    this.app.send(frame);
    body.value = "";
    noteBox.checked = false;
    this.error("");
  }

  shareArticle(article) {
    const frame = { type: "article.share", contact: this.id, article: article.id, client_msg_id: newId() };
    this.pending.set(frame.client_msg_id, frame);
    this.app.send(frame);
  }

  resendPending() {
    for (const frame of this.pending.values()) this.app.send(frame);
  }

  ack(frame) {
    this.pending.delete(frame.client_msg_id);
    if (frame.message) this.add(frame.message, true); // own messages come back in the ack only
    if (frame.masked) this.error(S.masked);
  }

  add(message, fromAck = false) {
    if (!message || typeof message.seq !== "number" || message.seq <= 0) return;
    if (!fromAck) this.resumeSeq = Math.max(this.resumeSeq, message.seq);
    if (this.list.querySelector(`li[data-seq="${message.seq}"]`)) return;
    this.lastSeq = Math.max(this.lastSeq, message.seq);
    const who =
      message.author === "customer" ? this.title() : message.author_name || message.author;
    const li = el("li", { class: `msg ${message.author} kind-${message.kind}`, "data-seq": message.seq });
    const meta = el("span", { class: "meta" }, el("span", { class: "who", text: who }), " ", el("time", { datetime: message.created_at, text: timeLabel(message.created_at, LANG) }));
    if (message.kind === "note") meta.prepend(el("span", { class: "note-tag", text: S.note }), " ");
    li.append(meta);
    if (message.kind === "article") {
      const p = message.payload || {};
      const href = safeUrl(p.url || (p.slug ? `/kb/${p.slug}/` : ""));
      li.append(el("div", { class: "article-card" }, el("strong", { text: p.title || message.body }), href ? el("a", { href, target: "_blank", rel: "noopener", text: href }) : null));
    } else li.append(el("p", { class: "body", text: message.body }));
    if (message.author === "supporter" && message.kind !== "note") li.append(el("span", { class: "receipt" }));
    const after = [...this.list.children].find((n) => Number(n.dataset.seq) > message.seq);
    if (after) this.list.insertBefore(li, after);
    else this.list.append(li);
    if (message.author === "customer") {
      this.showTyping(false);
      if (this.app.activeId === this.id && document.visibilityState === "visible") this.sendReceipt();
      else this.setUnread(this.unread + 1);
    }
    li.scrollIntoView({ block: "nearest" });
  }

  sendReceipt() {
    this.app.send({ type: "receipt", contact: this.id, read_seq: this.lastSeq });
  }

  setUnread(n) {
    this.unread = n;
    this.badge.hidden = n === 0;
    this.badge.textContent = n ? String(n) : "";
    this.tab.setAttribute("aria-label", n ? `${this.title()} (${n})` : this.title());
  }

  receipts(delivered, read) {
    this.list.querySelectorAll("li.supporter[data-seq] .receipt").forEach((span) => {
      const seq = Number(span.parentElement.dataset.seq);
      if (read && seq <= read) span.textContent = S.read;
      else if (delivered && seq <= delivered) span.textContent = S.delivered;
    });
  }

  showTyping(active) {
    this.panel.querySelector(".typing").textContent = active ? S.typing : "";
  }

  error(text) {
    this.panel.querySelector(".chat-error").textContent = text;
  }

  setState(state) {
    if (state !== this.contact.state) this.error("");
    this.contact.state = state;
    this.updateMeta();
  }

  updateMeta() {
    const c = this.contact;
    const parts = [L.channel(c.channel), L.language(c.language), L.topic(c.topic), L.municipality(c.municipality)].filter(Boolean);
    parts.push(fmt(S.state, { state: L.state(c.state) }));
    this.panel.querySelector(".chat-meta").textContent = parts.join(" · ");
    // Only what the server chose to send for this supporter's role is shown:
    // volunteers never receive a callback number.
    const details = this.panel.querySelector(".chat-details");
    const lines = [];
    if (c.description) lines.push(el("p", {}, el("strong", { text: `${S.description}: ` }), c.description));
    if (c.handover_note) lines.push(el("p", {}, el("strong", { text: `${S.handoverNote}: ` }), c.handover_note));
    if (c.callback_number) lines.push(el("p", {}, el("strong", { text: `${S.callbackNumber}: ` }), c.callback_number));
    details.replaceChildren(...lines);
    const served = !c.state || SERVED.has(c.state);
    this.panel.querySelector(".composer").hidden = !served;
    this.panel.querySelector(".chat-actions").hidden = !served;
    this.panel.classList.toggle("closed", !served);
    if (!served && !this.panel.querySelector(".close-chat")) {
      this.panel.append(
        el("p", { class: "notice", text: S.ended }),
        el("button", { type: "button", class: "secondary close-chat", text: S.close, onclick: () => this.app.closeChat(this.id) }),
      );
    }
  }

  remove() {
    this.tab.remove();
    this.panel.remove();
  }
}

class ConsoleApp {
  constructor() {
    this.chats = new Map();
    this.sentFor = new Map();
    this.offers = new Map();
    this.activeId = null;
    this.socket = new ReconnectingSocket(wsUrl("/ws/console/"), {
      onOpen: () => this.hello(),
      onFrame: (frame) => this.onFrame(frame),
      onStatus: (state) => {
        $("console-status").textContent = state === "reconnecting" ? S.reconnecting : state === "open" ? S.connected : "";
      },
      onGiveUp: () => {
        $("console-status").textContent = S.notSupporter;
      },
    });
    this.bind();
    this.socket.connect();
    setInterval(() => this.tickOffers(), 1000);
  }

  send(frame) {
    const chat = typeof frame.contact === "string" ? this.chats.get(frame.contact) : null;
    if (chat && QUIET.has(frame.type) && !SERVED.has(chat.contact.state || "active")) return false;
    // Which chat an error answers: by the frame's client_msg_id or type.
    if (chat) this.sentFor.set(frame.client_msg_id || frame.type, chat.id);
    return this.socket.send(frame);
  }

  hello() {
    const contacts = {};
    for (const [id, chat] of this.chats) contacts[id] = chat.resumeSeq;
    this.send({ type: "hello", contacts });
  }

  bind() {
    // The moment of leaving counts, not of choosing: a reload after a long shift still restores.
    window.addEventListener("pagehide", () => {
      const checked = document.querySelector("#presence input:checked");
      if (checked) this.keepPresence(checked.value);
    });
    document.querySelectorAll("#presence input[name=presence]").forEach((input) =>
      input.addEventListener("change", () => {
        // Until the server confirms, a welcome still carrying the old
        // presence must not undo the click.
        // While the socket is still (re)connecting the choice is kept and
        // sent once the welcome arrives, not lost.
        this.presenceWanted = input.value;
        this.send({ type: "presence.set", presence: input.value });
      }),
    );
    $("kb-search").addEventListener("submit", (e) => {
      e.preventDefault();
      this.search($("kb-query").value.trim());
    });
    $("chat-tabs").addEventListener("keydown", (e) => {
      const ids = [...this.chats.keys()];
      const i = ids.indexOf(this.activeId);
      if (e.key === "ArrowRight" && ids.length) this.activate(ids[(i + 1) % ids.length], true);
      if (e.key === "ArrowLeft" && ids.length) this.activate(ids[(i - 1 + ids.length) % ids.length], true);
    });
    document.addEventListener("visibilitychange", () => {
      const chat = this.chats.get(this.activeId);
      if (chat && document.visibilityState === "visible") chat.sendReceipt();
    });
  }

  onFrame(frame) {
    document.dispatchEvent(new CustomEvent("console:frame", { detail: frame })); // softphone.js
    const chat = frame.contact && typeof frame.contact === "string" ? this.chats.get(frame.contact) : null;
    switch (frame.type) {
      case "welcome":
        if (frame.supporter) this.keptPresenceKey = `helpdesk.presence.${frame.supporter.id}`;
        // A reload closes the tab's last socket, which the server takes for
        // leaving (offline): the status chosen in this tab comes back.
        if (frame.supporter && !this.presenceWanted && frame.supporter.presence === "offline") {
          this.presenceWanted = this.keptPresence();
        }
        if (frame.supporter && this.presenceWanted && frame.supporter.presence !== this.presenceWanted) {
          this.send({ type: "presence.set", presence: this.presenceWanted });
        } else if (frame.supporter) {
          this.presenceWanted = null;
          this.setPresence(frame.supporter.presence);
        }
        (frame.contacts || []).forEach((c) => this.openChat(c, c.messages || []));
        this.offers.forEach((_o, id) => this.removeOffer(id));
        (frame.offers || []).forEach((o) => this.addOffer(o, false));
        this.renderQueue(frame.queue || []);
        this.chats.forEach((c) => c.resendPending());
        break;
      case "presence":
        if (frame.presence === this.presenceWanted) this.presenceWanted = null;
        this.setPresence(frame.presence);
        break;
      case "offer.new":
        this.addOffer(frame, true);
        break;
      case "offer.withdrawn":
        this.removeOffer(frame.offer);
        break;
      case "contact.assigned":
        this.openChat(frame.contact, frame.messages || [], true);
        for (const [id, offer] of this.offers) if (offer.contact && offer.contact.id === frame.contact.id) this.removeOffer(id);
        break;
      case "queue.snapshot":
        this.renderQueue(frame.queue || []);
        break;
      case "message.new":
        if (chat) chat.add(frame.message);
        break;
      case "message.ack":
        if (chat) chat.ack(frame);
        break;
      case "typing":
        if (chat && frame.who === "customer") chat.showTyping(frame.active);
        break;
      case "message.receipt":
        if (chat && frame.who === "customer") chat.receipts(frame.delivered_seq, frame.read_seq);
        break;
      case "contact.state":
        if (chat) chat.setState(frame.state);
        break;
      case "suggestions":
        if (chat) {
          chat.suggestions = frame.articles || [];
          if (this.activeId === chat.id) this.renderSuggestions(chat);
        }
        break;
      case "error":
        this.onError(frame);
        break;
      default:
        break;
    }
  }

  // Kept for a reload only: a console that comes back much later (a laptop
  // opened the next morning) does not take offers until asked to.
  keepPresence(value) {
    if (!this.keptPresenceKey || !value || value === "offline") return;
    sessionStorage.setItem(this.keptPresenceKey, JSON.stringify({ value, at: Date.now() }));
  }

  keptPresence() {
    try {
      const kept = JSON.parse(sessionStorage.getItem(this.keptPresenceKey));
      return kept && Date.now() - kept.at < PRESENCE_KEPT_MS ? kept.value : null;
    } catch {
      return null;
    }
  }

  setPresence(value) {
    this.keepPresence(value);
    const input = document.querySelector(`#presence input[value="${value}"]`);
    if (input) input.checked = true;
    else document.querySelectorAll("#presence input").forEach((i) => (i.checked = false));
    // Offline is no choice of its own (the server sets it when the last tab
    // closes): with no radio checked, say what it means and what to do.
    $("presence-offline").hidden = Boolean(input);
  }

  onError(frame) {
    if (frame.ref === "presence.set") this.presenceWanted = null;
    if (QUIET.has(frame.ref)) return;
    const text = S[`error_${frame.code}`] || frame.detail || S.error_generic;
    const chatId = this.sentFor.get(frame.ref);
    const chat = chatId ? this.chats.get(chatId) : null;
    // An action that raced with the chat's end or handover (a transfer or an
    // escalation that already succeeded) is no failure worth reporting.
    if (chat && !SERVED.has(chat.contact.state || "active") && frame.code !== "rate_limited") return;
    if (chat) chat.error(text);
    else $("offer-alert").textContent = text;
    if (frame.code === "rate_limited" || frame.code === "unavailable")
      setTimeout(() => this.chats.forEach((c) => c.resendPending()), 5000);
    if (frame.code === "conflict" && frame.ref) this.removeOffer(frame.ref);
  }

  // offers and queue

  summary(contact) {
    const waited = contact.waited_s ? fmt(S.waited, { minutes: Math.round(contact.waited_s / 60) }) : "";
    return [L.pseudonym(contact.pseudonym), L.channel(contact.channel), L.language(contact.language), L.topic(contact.topic), L.municipality(contact.municipality) || S.unknownMunicipality, waited]
      .filter(Boolean)
      .join(" · ");
  }

  addOffer(frame, alert) {
    const id = String(frame.offer);
    if (this.offers.has(id)) return;
    const expires = frame.expires_at ? new Date(frame.expires_at).getTime() : null;
    const countdown = el("span", { class: "countdown" });
    const li = el(
      "li",
      { class: "offer flash", "data-offer": id },
      el("p", { class: "offer-summary", text: this.summary(frame.contact || {}) }),
      countdown,
      el("div", { class: "offer-actions" },
        el("button", { type: "button", class: "accept", text: S.accept, onclick: () => this.send({ type: "offer.accept", offer: frame.offer }) }),
        el("button", { type: "button", class: "secondary decline", text: S.decline, onclick: () => {
          this.send({ type: "offer.decline", offer: frame.offer });
          this.removeOffer(id);
        } }),
      ),
    );
    this.offers.set(id, { ...frame, expires, li, countdown });
    $("offers").append(li);
    $("no-offers").hidden = true;
    this.tickOffers();
    this.updateTitle();
    if (alert) $("offer-alert").textContent = fmt(S.newOffer, { summary: this.summary(frame.contact || {}) });
  }

  removeOffer(id) {
    const offer = this.offers.get(String(id));
    if (!offer) return;
    offer.li.remove();
    this.offers.delete(String(id));
    $("no-offers").hidden = this.offers.size > 0;
    if (!this.offers.size) $("offer-alert").textContent = "";
    this.updateTitle();
  }

  // A silent cue that also reaches a supporter working in another tab.
  updateTitle() {
    if (!this.baseTitle) this.baseTitle = document.title;
    document.title = this.offers.size ? `(${this.offers.size}) ${this.baseTitle}` : this.baseTitle;
  }

  tickOffers() {
    const now = Date.now();
    for (const [id, offer] of this.offers) {
      if (!offer.expires) continue;
      const left = Math.max(0, Math.round((offer.expires - now) / 1000));
      offer.countdown.textContent = fmt(S.secondsLeft, { seconds: left });
      offer.li.classList.toggle("urgent", left <= 10);
      if (left === 0 && now - offer.expires > 5000) this.removeOffer(id);
    }
  }

  renderQueue(queue) {
    $("queue-count").textContent = String(queue.length);
    $("queue-empty").hidden = queue.length > 0;
    $("queue").replaceChildren(
      ...queue.map((c) =>
        el("li", { class: "queue-item" },
          el("span", { text: this.summary(c) }, c.overflow ? el("span", { class: "tag overflow", text: ` ${S.overflow}` }) : null),
          el("button", { type: "button", class: "secondary pick", text: S.pick, onclick: () => this.send({ type: "contact.pick", contact: c.id }) }),
        ),
      ),
    );
  }

  // chats

  openChat(contact, messages, focus = false) {
    if (!contact || !contact.id) return;
    let chat = this.chats.get(contact.id);
    if (!chat) {
      chat = new Chat(this, contact);
      this.chats.set(contact.id, chat);
    } else {
      chat.contact = { ...chat.contact, ...contact };
      chat.updateMeta();
    }
    messages.forEach((m) => chat.add(m));
    $("no-chats").hidden = true;
    if (focus || !this.activeId) this.activate(contact.id, focus);
  }

  activate(id, focus = false) {
    this.activeId = id;
    for (const [cid, chat] of this.chats) {
      const on = cid === id;
      chat.tab.setAttribute("aria-selected", on ? "true" : "false");
      chat.tab.tabIndex = on ? 0 : -1;
      chat.panel.hidden = !on;
      if (on) {
        $("offer-alert").textContent = "";
        $("kb-results").replaceChildren();
        chat.setUnread(0);
        chat.sendReceipt();
        this.renderSuggestions(chat);
        if (focus) chat.tab.focus();
      }
    }
  }

  closeChat(id) {
    const chat = this.chats.get(id);
    if (!chat) return;
    chat.remove();
    this.chats.delete(id);
    const next = this.chats.keys().next();
    this.activeId = null;
    if (!next.done) this.activate(next.value);
    $("no-chats").hidden = this.chats.size > 0;
  }

  // knowledge

  articleItem(article) {
    const href = safeUrl(article.url || (article.slug ? `/kb/${article.slug}/` : ""));
    return el(
      "li",
      { class: "article" },
      href ? el("a", { href, target: "_blank", rel: "noopener", text: article.title }) : el("strong", { text: article.title }),
      // A guide found in another language than the customer's says which.
      article.other_language || article.fallback ? el("span", { class: "tag lang-tag", text: ` (${L.language(article.language)})` }) : null,
      article.summary ? el("p", { class: "summary", text: article.summary }) : null,
      el("button", {
        type: "button",
        class: "secondary share",
        text: S.share,
        onclick: (e) => {
          const chat = this.chats.get(this.activeId);
          if (!chat) {
            $("offer-alert").textContent = S.openChatFirst;
            return;
          }
          chat.shareArticle(article);
          e.target.textContent = S.shared;
        },
      }),
    );
  }

  renderSuggestions(chat) {
    $("suggestions").replaceChildren(...chat.suggestions.map((a) => this.articleItem(a)));
  }

  async search(query) {
    if (!query) return;
    const chat = this.chats.get(this.activeId);
    const lang = (chat && chat.contact.language) || LANG;
    try {
      const response = await fetch(`/kb/api/search?q=${encodeURIComponent(query)}&lang=${encodeURIComponent(lang)}`, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      const data = response.ok ? await response.json() : [];
      const articles = Array.isArray(data) ? data : data.results || data.articles || [];
      $("kb-results").replaceChildren(
        ...(articles.length ? articles.slice(0, 10).map((a) => this.articleItem(a)) : [el("li", { text: S.noResults })]),
      );
    } catch (err) {
      $("kb-results").replaceChildren(el("li", { text: S.error_generic }));
    }
  }
}

window.digitukiConsole = new ConsoleApp();
