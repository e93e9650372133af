// Customer side: the start form (with the municipality combobox) and the chat
// page (queue, conversation, feedback). Everything the customer types is kept
// in an outbox in localStorage until the server acknowledges it, so a reload or
// a lost network loses nothing.
import { ReconnectingSocket, el, fmt, loadStrings, newId, safeUrl, timeLabel, wsUrl } from "./socket.js";
import { renderAttachment } from "./customer-attachments.js";

const S = loadStrings();
const LANG = document.documentElement.lang || "fi";
const KEY_CONTACT = "digituki.contact";
const KEY_CUSTOMER = "digituki.customerKey";
const QUEUED = new Set(["waiting", "offered", "transferred", "escalated"]);
const SERVED = new Set(["active", "on_hold"]);
const TERMINAL = new Set(["ended", "abandoned"]);
// The state class a story step's line takes (as the live lines do).
const STEP_STATE = { joined: "active", resumed: "active", back_in_queue: "waiting" };

// --- storage --------------------------------------------------------------

function store(key, value) {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, JSON.stringify(value));
  } catch (err) {
    /* private mode: the chat still works, it just cannot resume after a reload */
  }
}

function recall(key) {
  try {
    const raw = localStorage.getItem(key);
    return raw ? JSON.parse(raw) : null;
  } catch (err) {
    return null;
  }
}

function customerKey() {
  let key = recall(KEY_CUSTOMER);
  if (typeof key !== "string" || !/^[A-Za-z0-9_-]{8,64}$/.test(key)) {
    key = newId().replace(/-/g, "");
    store(KEY_CUSTOMER, key);
  }
  return key;
}

const outboxKey = (id) => `digituki.outbox.${id}`;

// --- start page -----------------------------------------------------------

function setupCombobox() {
  const input = document.getElementById("municipality-input");
  const list = document.getElementById("municipality-list");
  const codeField = document.getElementById("municipality-code");
  const unknown = document.getElementById("municipality-unknown");
  const dataNode = document.getElementById("municipality-data");
  if (!input || !list || !dataNode) return null;
  const all = JSON.parse(dataNode.textContent);
  const status = el("p", { class: "visually-hidden", role: "status", "aria-live": "polite" });
  list.after(status);
  let options = [];
  let active = -1;

  // Bilingual names in the page's language first: "Helsingfors / Helsinki" in Swedish.
  const label = (m) => {
    if (!m.name_sv || m.name_sv === m.name_fi) return m.name_fi;
    return LANG === "sv" ? `${m.name_sv} / ${m.name_fi}` : `${m.name_fi} / ${m.name_sv}`;
  };
  const norm = (s) => s.toLocaleLowerCase("fi").trim();

  function close() {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  }

  function choose(m) {
    input.value = label(m);
    codeField.value = m.code;
    unknown.checked = false;
    input.removeAttribute("aria-invalid");
    close();
  }

  function render() {
    const q = norm(input.value);
    codeField.value = "";
    if (!q) {
      close();
      return;
    }
    const starts = all.filter((m) => norm(m.name_fi).startsWith(q) || norm(m.name_sv).startsWith(q));
    const contains = all.filter(
      (m) => !starts.includes(m) && (norm(m.name_fi).includes(q) || norm(m.name_sv).includes(q)),
    );
    options = starts.concat(contains).slice(0, 12);
    list.replaceChildren(
      ...options.map((m, i) =>
        el("li", {
          id: `municipality-option-${i}`,
          role: "option",
          "aria-selected": "false",
          class: m.preferred ? "preferred" : null,
          text: label(m),
          onmousedown: (e) => {
            e.preventDefault();
            choose(m);
          },
        }),
      ),
    );
    list.hidden = options.length === 0;
    input.setAttribute("aria-expanded", options.length ? "true" : "false");
    status.textContent = options.length ? fmt(S.matches, { count: options.length }) : S.noMatches;
    // An exact name typed in full counts as a choice.
    const exact = all.find((m) => norm(m.name_fi) === q || norm(m.name_sv) === q);
    if (exact) codeField.value = exact.code;
  }

  function move(delta) {
    if (list.hidden || !options.length) {
      render();
      if (!options.length) return;
    }
    active = (active + delta + options.length) % options.length;
    [...list.children].forEach((li, i) => li.setAttribute("aria-selected", i === active ? "true" : "false"));
    input.setAttribute("aria-activedescendant", `municipality-option-${active}`);
    list.children[active].scrollIntoView({ block: "nearest" });
  }

  input.addEventListener("input", render);
  input.addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown") {
      e.preventDefault();
      move(1);
    } else if (e.key === "ArrowUp") {
      e.preventDefault();
      move(-1);
    } else if (e.key === "Enter" && !list.hidden && active >= 0) {
      e.preventDefault();
      choose(options[active]);
    } else if (e.key === "Escape") {
      close();
    }
  });
  input.addEventListener("blur", () => setTimeout(close, 150));
  unknown.addEventListener("change", () => {
    if (unknown.checked) {
      input.value = "";
      codeField.value = "";
      close();
    }
  });
  return { codeField, unknown, input };
}

async function checkExistingContact(resumeBox) {
  const saved = recall(KEY_CONTACT);
  if (!saved || !saved.id || !saved.token) return;
  try {
    const response = await fetch(`/api/contacts/${encodeURIComponent(saved.id)}/`, {
      headers: { "X-Contact-Token": saved.token, Accept: "application/json" },
    });
    if (response.status === 403 || response.status === 404) {
      store(KEY_CONTACT, null);
      return;
    }
    if (!response.ok) return;
    const contact = await response.json();
    if (TERMINAL.has(contact.state)) store(KEY_CONTACT, null);
    else resumeBox.hidden = false;
  } catch (err) {
    resumeBox.hidden = false; // offline: offer to continue; the chat page reconnects
  }
}

function showFormErrors(box, messages) {
  box.replaceChildren(...messages.map((m) => el("p", { text: m })));
  box.hidden = false;
  box.focus();
}

function flattenErrors(detail) {
  if (!detail) return [];
  if (typeof detail === "string") return [detail];
  if (Array.isArray(detail)) return detail.flatMap(flattenErrors);
  return Object.values(detail).flatMap(flattenErrors);
}

function setupStartPage(form) {
  const combo = setupCombobox();
  const errors = document.getElementById("form-errors");
  const resumeBox = document.getElementById("resume-box");
  checkExistingContact(resumeBox);
  let busy = false;

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (busy) return;
    const data = new FormData(form);
    const problems = [];
    const consent = document.getElementById("consent");
    if (combo && !combo.codeField.value && !combo.unknown.checked) {
      problems.push(S.pickMunicipality);
      combo.input.setAttribute("aria-invalid", "true");
    }
    if (!consent.checked) {
      problems.push(S.consentNeeded);
      consent.setAttribute("aria-invalid", "true");
    } else consent.removeAttribute("aria-invalid");
    if (problems.length) {
      showFormErrors(errors, problems);
      return;
    }
    const body = {
      language: data.get("language") || LANG,
      channel: data.get("channel") === "video" ? "video" : "chat",
      municipality: combo && combo.codeField.value ? combo.codeField.value : null,
      topic: data.get("topic") || null,
      description: (data.get("description") || "").trim(),
      consent: true,
      customer_key: customerKey(),
      provider: form.dataset.provider || null,
    };
    busy = true;
    form.setAttribute("aria-busy", "true");
    try {
      const response = await fetch("/api/contacts/", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(body),
      });
      const answer = await response.json().catch(() => ({}));
      if (response.status === 201) {
        store(KEY_CONTACT, {
          id: answer.contact.id,
          token: answer.token,
          municipality: body.municipality,
          topic: body.topic,
          language: body.language,
        });
        window.location.assign(form.dataset.chatUrl);
        return;
      }
      if (response.status === 429) showFormErrors(errors, [S.tooMany]);
      else if (response.status === 400) showFormErrors(errors, flattenErrors(answer.detail) || [S.failed]);
      else showFormErrors(errors, [S.failed]);
    } catch (err) {
      showFormErrors(errors, [S.failed]);
    } finally {
      busy = false;
      form.removeAttribute("aria-busy");
    }
  });
}

// --- chat page ------------------------------------------------------------

/** The shared guide of an article message (`payload.article`, older rows: the payload itself). */
function articleOf(message) {
  const payload = message.payload || {};
  return payload.article && typeof payload.article === "object" ? payload.article : payload;
}

/** Who will help, in words: a provider, a region or Kansalaisneuvonta. */
function helperText(helper) {
  if (!helper || typeof helper.name !== "string" || !helper.name) return "";
  if (helper.kind === "national") return S.helperNational;
  if (helper.kind === "region") return fmt(S.helperRegion, { name: helper.name });
  return fmt(S.helperProvider, { name: helper.name });
}

/**
 * An honest wait: a range around the estimate (queues move unevenly), or a
 * plain statement that nobody can say yet, with what the customer can do.
 */
function waitText(seconds) {
  if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds < 0) return S.waitNoEstimate;
  const minutes = seconds / 60;
  if (minutes < 2) return S.waitUnderTwo;
  const low = Math.max(1, Math.floor(minutes * 0.7));
  const high = Math.max(low + 1, Math.ceil(minutes * 1.3));
  return fmt(S.waitRange, { low, high });
}

class CustomerChat {
  constructor(root) {
    this.root = root;
    this.saved = recall(KEY_CONTACT);
    this.$ = (id) => document.getElementById(id);
    this.messages = new Map(); // seq -> message
    this.lastSeq = 0; // highest seq shown (read receipts)
    // Where a resume starts: the last seq of a welcome or message.new. Not an
    // ack's: a supporter message with a lower seq may still be on its way.
    this.resumeSeq = 0;
    this.readSent = 0;
    this.outbox = [];
    this.contact = null;
    this.typingTimer = null;
    this.typingActive = false;
    this.selfHelpLoaded = false;
    this.helpPointsLoaded = false;
    this.feedbackSent = false;
  }

  start() {
    if (!this.saved || !this.saved.token) {
      this.$("no-chat").hidden = false;
      return;
    }
    this.outbox = recall(outboxKey(this.saved.id)) || [];
    this.bindUi();
    this.outbox.forEach((item) => this.renderPending(item));
    this.socket = new ReconnectingSocket(
      wsUrl(`/ws/contact/?token=${encodeURIComponent(this.saved.token)}`),
      {
        onOpen: () => this.socket.send({ type: "hello", last_seq: this.resumeSeq }),
        onFrame: (frame) => this.onFrame(frame),
        onStatus: (state) => this.onStatus(state),
        onGiveUp: () => this.onGone(),
      },
    );
    this.socket.connect();
  }

  bindUi() {
    this.$("conversation").hidden = false;
    this.$("composer").addEventListener("submit", (e) => {
      e.preventDefault();
      this.sendMessage();
    });
    const input = this.$("message-input");
    input.addEventListener("input", () => this.typing(true));
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.sendMessage();
      }
    });
    const endButton = this.$("end-chat");
    endButton.addEventListener("click", () => this.askEnd(endButton));
    this.$("callback-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.requestCallback();
    });
    this.$("leave-message").addEventListener("click", () => {
      this.$("callback-result").textContent = S.messageLeft;
      input.focus();
    });
    this.$("feedback-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.sendFeedback();
    });
    this.$("download-transcript").addEventListener("click", () => this.downloadTranscript());
    this.$("new-chat").addEventListener("click", () => store(KEY_CONTACT, null));
    document.addEventListener("visibilitychange", () => this.sendReceipt());
  }

  onStatus(state) {
    const line = this.$("connection-status");
    const lost = state === "reconnecting";
    if (lost) {
      this.wasOffline = true;
      line.textContent = S.offline || S.reconnecting;
    } else if (state === "open" && this.wasOffline) {
      this.wasOffline = false;
      line.textContent = S.backOnline || "";
      clearTimeout(this.backOnlineTimer);
      this.backOnlineTimer = setTimeout(() => {
        if (!this.wasOffline) line.textContent = "";
      }, 4000);
    } else if (state !== "open") line.textContent = "";
    line.classList.toggle("warn", lost);
    line.classList.toggle("ok", state === "open" && Boolean(line.textContent));
    this.markUnsent(lost);
  }

  /** Pending messages say whether they wait for the connection or are on their way. */
  markUnsent(offline) {
    document.querySelectorAll("#messages li.pending").forEach((li) => {
      li.classList.toggle("unsent", offline);
      const receipt = li.querySelector(".receipt");
      if (receipt) receipt.textContent = offline ? S.unsent : S.sending;
    });
  }

  onGone() {
    store(KEY_CONTACT, null);
    this.$("connection-status").textContent = S.sessionGone;
    this.$("conversation").hidden = true;
    this.$("waiting").hidden = true;
    this.$("no-chat").hidden = false;
  }

  onFrame(frame) {
    switch (frame.type) {
      case "welcome": {
        // A page that starts afresh (first load or reload) draws the story so
        // far from the welcome; a page that resumes tells what changed while
        // its socket was away.
        const fresh = !this.contact;
        if (!fresh && frame.contact) this.tellStory(this.contact, frame.contact);
        this.setContact(frame.contact || {});
        const story = fresh && Array.isArray(frame.story) ? frame.story.slice() : [];
        (frame.messages || []).forEach((m) => {
          while (story.length && !(Number(story[0].after_seq) >= m.seq)) this.addStoryStep(story.shift());
          this.addMessage(m);
        });
        story.forEach((step) => this.addStoryStep(step));
        // The welcome reads the contact before its story, so a step stored in
        // between (a supporter joining that moment) is in the story while the
        // contact still says the earlier state; its live frame then follows.
        // Remember where the story ended so that frame does not tell it twice.
        const last = fresh && Array.isArray(frame.story) ? frame.story[frame.story.length - 1] : null;
        this.storyEndState = last ? STEP_STATE[last.step] || last.step : null;
        this.flushOutbox();
        this.sendReceipt();
        break;
      }
      case "message.new":
        this.addMessage(frame.message);
        this.sendReceipt();
        break;
      case "message.ack":
        this.onAck(frame);
        break;
      case "typing":
        if (frame.who === "supporter") this.showTyping(frame.active);
        break;
      case "message.receipt":
        if (frame.who === "supporter") this.markReceipts(frame.delivered_seq, frame.read_seq);
        break;
      case "contact.state": {
        const before = this.contact || {};
        const next = { ...before, state: frame.state, supporter_name: frame.supporter_name };
        // A transfer or escalation names who serves next; staying in service keeps it.
        if (frame.target) next.helper = frame.target;
        else if (!QUEUED.has(frame.state)) next.helper = null;
        if (!QUEUED.has(frame.state)) {
          next.position = null;
          next.estimated_wait_s = null;
        }
        this.tellStory(before, next);
        this.setContact(next);
        break;
      }
      case "queue.position":
        this.setContact({
          ...(this.contact || {}),
          position: frame.position,
          estimated_wait_s: frame.estimated_wait_s,
        });
        break;
      case "queue.closed":
        this.showClosed(frame);
        break;
      case "feedback.ack":
        this.feedbackDone();
        break;
      case "error":
        this.onError(frame);
        break;
      default:
        break;
    }
  }

  setContact(contact) {
    const previous = this.contact ? this.contact.state : null;
    this.contact = contact;
    if (this.callbackDone) return; // the chat was swapped for a callback on purpose
    const state = contact.state;
    const queued = QUEUED.has(state);
    this.$("waiting").hidden = !queued;
    if (queued) this.renderQueue(contact);
    this.renderStatusLine(contact);
    // After a callback request the chat is closed on purpose: no "ended" view.
    if (TERMINAL.has(state) && !this.callbackRequested) this.showEnded(previous !== state);
  }

  /** The one line under the heading: always the contact's current state, never two at once. */
  renderStatusLine(contact) {
    const state = contact.state;
    const name = contact.supporter_name || S.supporter;
    let text = "";
    if (state === "active") text = fmt(S.servedBy, { name });
    else if (state === "on_hold") text = fmt(S.statusOnHold, { name });
    else if (QUEUED.has(state)) text = S.statusQueued; // who helps is said in the waiting box
    const line = this.$("supporter-line");
    if (line.textContent !== text) line.textContent = text;
    line.hidden = !text;
  }

  /** A system line in the conversation for what just happened to the contact. */
  tellStory(before, next) {
    const from = before.state;
    const to = next.state;
    if (!from || from === to) return;
    const toldAlready = this.storyEndState === to;
    this.storyEndState = null;
    if (toldAlready) return;
    let step = null;
    if (to === "active" && from === "on_hold") step = "resumed";
    else if (to === "active") step = "joined";
    else if (to === "waiting" && SERVED.has(from)) step = "back_in_queue";
    else if (["on_hold", "escalated", "transferred", "ended", "abandoned"].includes(to)) step = to;
    if (!step) return;
    const name = next.supporter_name || before.supporter_name;
    const text = this.storyText(step, name, next.helper);
    if (text) this.addSystemLine(text, to);
  }

  /** A step of the welcome's `story` (a page that reloaded): the same line, at its time. */
  addStoryStep(entry) {
    if (!entry || typeof entry.step !== "string") return;
    const text = this.storyText(entry.step, entry.supporter_name, entry.target);
    if (text) this.addSystemLine(text, STEP_STATE[entry.step] || entry.step, entry.at);
  }

  storyText(step, supporterName, target) {
    const name = supporterName || S.supporter;
    switch (step) {
      case "joined":
        return fmt(S.storyJoined, { name });
      case "resumed":
        return fmt(S.storyResumed, { name });
      case "on_hold":
        return fmt(S.storyOnHold, { name });
      case "escalated":
        return S.storyEscalated;
      case "transferred":
        if (target && target.kind === "national") return S.storyEscalated;
        if (target && target.kind === "region" && target.name) return fmt(S.storyTransferredRegion, { name: target.name });
        if (target && target.name) return fmt(S.storyTransferredProvider, { name: target.name });
        return S.storyTransferred;
      case "back_in_queue":
        return S.storyBackInQueue;
      case "ended":
        return S.storyEnded;
      case "abandoned":
        return S.storyAbandoned;
      default:
        return null;
    }
  }

  addSystemLine(text, state, at = null) {
    const when = at || new Date().toISOString();
    const li = el(
      "li",
      { class: `msg system kind-system story story-${state}` },
      el("span", { class: "meta" }, el("span", { class: "who", text: S.system }), " ", el("time", { datetime: when, text: timeLabel(at, LANG) })),
      el("p", { class: "body", text }),
    );
    const list = this.$("messages");
    const firstPending = list.querySelector("li.pending");
    if (firstPending) list.insertBefore(li, firstPending);
    else list.append(li);
    li.scrollIntoView({ block: "nearest" });
  }

  renderQueue(contact) {
    const parts = [];
    if (contact.position === 1) parts.push(S.next);
    else if (contact.position) parts.push(fmt(S.position, { position: contact.position }));
    else parts.push(S.positionPending);
    parts.push(waitText(contact.estimated_wait_s));
    const helper = helperText(contact.helper);
    if (helper) parts.push(helper);
    const text = parts.join(" ");
    const node = this.$("queue-status");
    if (node.textContent !== text) node.textContent = text;
    // Nobody has to wait to be offered the other ways of getting help.
    this.$("options-box").hidden = false;
    this.loadSelfHelp(contact.topic || this.saved.topic);
  }

  async loadSelfHelp(topic) {
    if (this.selfHelpLoaded || !topic) return;
    this.selfHelpLoaded = true;
    try {
      const lang = (this.contact && this.contact.language) || LANG;
      const response = await fetch(
        `/kb/api/for-topic?topic=${encodeURIComponent(topic)}&lang=${encodeURIComponent(lang)}`,
        { headers: { Accept: "application/json" } },
      );
      if (!response.ok) return;
      const data = await response.json();
      const articles = Array.isArray(data) ? data : data.articles || data.results || [];
      const items = articles.slice(0, 5).map((a) => {
        const href = safeUrl(a.url || (a.slug ? `/kb/${a.slug}/` : ""));
        return el(
          "li",
          {},
          href ? el("a", { href, target: "_blank", rel: "noopener", text: a.title }) : a.title,
          a.summary ? el("p", { class: "summary", text: a.summary }) : null,
        );
      });
      if (items.length) {
        this.$("self-help-list").replaceChildren(...items);
        this.$("self-help").hidden = false;
      } else {
        // Nothing fits: say so, and point to a person instead of a wrong guide.
        this.$("self-help-none").hidden = false;
      }
    } catch (err) {
      /* guides are a bonus; the queue works without them */
    }
  }

  showClosed(frame) {
    const box = this.$("closed-box");
    const lines = [S.closed];
    if (frame.opens_at) {
      const when = new Date(frame.opens_at);
      if (!Number.isNaN(when.getTime())) {
        const text = new Intl.DateTimeFormat(LANG, {
          weekday: "long",
          day: "numeric",
          month: "numeric",
          hour: "2-digit",
          minute: "2-digit",
          hourCycle: "h23", // 24-hour clock in English too, as in Finland
        }).format(when);
        lines.push(fmt(S.opensAt, { time: text }));
      }
    }
    this.$("closed-text").textContent = lines.join(" ");
    const link = safeUrl(frame.help_points_url);
    if (link) this.$("help-points-link").href = link;
    box.hidden = false;
    this.$("options-box").hidden = false;
    this.loadHelpPoints();
  }

  async loadHelpPoints() {
    const code = this.saved.municipality;
    if (this.helpPointsLoaded || !code) return;
    this.helpPointsLoaded = true;
    this.$("help-points-link").href = `/near/?municipality=${encodeURIComponent(code)}`;
    try {
      const response = await fetch(`/api/help-near?municipality=${encodeURIComponent(code)}`);
      if (!response.ok) return;
      const data = await response.json();
      this.$("help-points").replaceChildren(
        ...data.providers.slice(0, 5).map((p) =>
          el(
            "li",
            {},
            el("strong", { text: p.name }),
            p.address ? el("span", { text: ` — ${p.address}` }) : null,
            p.in_person_hours ? el("span", { class: "hours", text: ` (${p.in_person_hours})` }) : null,
          ),
        ),
      );
    } catch (err) {
      /* the link to the full list is still there */
    }
  }

  // messages

  addMessage(message, fromAck = false) {
    if (!message || typeof message.seq !== "number") return;
    if (!fromAck) this.resumeSeq = Math.max(this.resumeSeq, message.seq);
    if (this.messages.has(message.seq)) return;
    if (message.kind === "note") return;
    this.messages.set(message.seq, message);
    this.lastSeq = Math.max(this.lastSeq, message.seq);
    // The customer's own message may already be on screen: as a pending item
    // (matched by client id) or as an acknowledged one (matched by seq).
    const pending =
      this.$("messages").querySelector(`li[data-seq="${message.seq}"]`) ||
      (message.client_msg_id
        ? document.querySelector(`#messages li[data-client-id="${CSS.escape(message.client_msg_id)}"]`)
        : null);
    const node = this.renderMessage(message);
    if (pending) {
      const receipt = pending.querySelector(".receipt");
      const fresh = node.querySelector(".receipt");
      if (receipt && fresh && receipt.textContent !== S.sending) fresh.textContent = receipt.textContent;
      pending.replaceWith(node);
      // The stored copy is taller (its time and receipt): keep it in sight.
      node.scrollIntoView({ block: "nearest" });
    } else this.insertInOrder(node, message.seq);
    if (message.author === "supporter") this.showTyping(false);
  }

  insertInOrder(node, seq) {
    const list = this.$("messages");
    const after = [...list.children].find((li) => li.dataset.seq && Number(li.dataset.seq) > seq);
    if (after) list.insertBefore(node, after);
    else {
      const firstPending = list.querySelector("li.pending");
      if (firstPending) list.insertBefore(node, firstPending);
      else list.append(node);
    }
    node.scrollIntoView({ block: "nearest", behavior: "auto" });
  }

  renderMessage(m) {
    const own = m.author === "customer";
    const who = own ? S.you : m.author === "supporter" ? m.author_name || S.supporter : S.system;
    const li = el("li", { class: `msg ${m.author} kind-${m.kind}`, "data-seq": m.seq });
    li.append(el("span", { class: "meta" }, el("span", { class: "who", text: who }), " ", el("time", { datetime: m.created_at, text: timeLabel(m.created_at, LANG) })));
    if (m.kind === "article") {
      const p = articleOf(m);
      const href = safeUrl(p.url || (p.slug ? `/kb/${p.slug}/` : ""));
      li.append(
        el(
          "div",
          { class: "article-card" },
          el("strong", { text: p.title || m.body }),
          p.summary ? el("p", { text: p.summary }) : null,
          href ? el("a", { href, target: "_blank", rel: "noopener", text: S.openGuide }) : null,
        ),
      );
    } else if (m.kind === "file") {
      const box = el("div", { class: "attachment" });
      li.append(box);
      renderAttachment(box, m);
    } else {
      li.append(el("p", { class: "body", text: m.body }));
    }
    if (own) li.append(el("span", { class: "receipt", text: S.sent }));
    return li;
  }

  renderPending(item) {
    const li = el(
      "li",
      { class: "msg customer pending", "data-client-id": item.client_msg_id },
      el("span", { class: "meta" }, el("span", { class: "who", text: S.you })),
      el("p", { class: "body", text: item.body }),
      el("span", { class: "receipt", text: S.sending }),
    );
    this.$("messages").append(li);
    li.scrollIntoView({ block: "nearest" });
  }

  sendMessage() {
    const input = this.$("message-input");
    const body = input.value.trim();
    if (!body) return;
    if (body.length > 4000) {
      this.$("send-error").textContent = S.error_too_large;
      return;
    }
    const item = { client_msg_id: newId(), body };
    this.outbox.push(item);
    store(outboxKey(this.saved.id), this.outbox);
    this.renderPending(item);
    input.value = "";
    this.$("send-error").textContent = "";
    this.typing(false);
    if (!this.socket.send({ type: "message.send", ...item })) this.markUnsent(true);
  }

  flushOutbox() {
    for (const item of this.outbox) this.socket.send({ type: "message.send", ...item });
  }

  onAck(frame) {
    this.outbox = this.outbox.filter((i) => i.client_msg_id !== frame.client_msg_id);
    store(outboxKey(this.saved.id), this.outbox.length ? this.outbox : null);
    const li = document.querySelector(`#messages li[data-client-id="${CSS.escape(frame.client_msg_id)}"]`);
    if (li && this.messages.has(frame.seq)) li.remove(); // a replay showed it already
    else if (li) {
      li.classList.remove("pending");
      li.dataset.seq = frame.seq;
      const receipt = li.querySelector(".receipt");
      if (receipt) receipt.textContent = S.sent;
    }
    // The ack carries the stored message (masked, with its time) unless this
    // socket already had it; it replaces the pending line found by its seq.
    if (frame.message) this.addMessage(frame.message, true);
    if (frame.masked) this.$("masked-notice").hidden = false;
  }

  markReceipts(delivered, read) {
    document.querySelectorAll("#messages li.customer[data-seq]").forEach((li) => {
      const seq = Number(li.dataset.seq);
      const receipt = li.querySelector(".receipt");
      if (!receipt) return;
      if (read && seq <= read) receipt.textContent = S.read;
      else if (delivered && seq <= delivered) receipt.textContent = S.delivered;
    });
  }

  sendReceipt() {
    if (document.visibilityState !== "visible" || this.lastSeq <= this.readSent || !this.socket) return;
    if (this.socket.send({ type: "receipt", read_seq: this.lastSeq })) this.readSent = this.lastSeq;
  }

  typing(active) {
    clearTimeout(this.typingTimer);
    if (active) this.typingTimer = setTimeout(() => this.typing(false), 3000);
    if (active === this.typingActive) return;
    this.typingActive = active;
    if (this.socket) this.socket.send({ type: "typing", active });
  }

  showTyping(active) {
    const name = (this.contact && this.contact.supporter_name) || S.supporter;
    this.$("typing").textContent = active ? fmt(S.typing, { name }) : "";
  }

  onError(frame) {
    const text = S[`error_${frame.code}`] || S.error_generic;
    this.$("send-error").textContent = text;
    if (frame.code === "rate_limited" || frame.code === "unavailable") setTimeout(() => this.flushOutbox(), 5000);
    if (frame.code === "too_large" || frame.code === "invalid") {
      // The server will never take this one: give it back to the customer to shorten.
      const item = this.outbox.find((i) => i.client_msg_id === frame.ref);
      if (item) {
        this.outbox = this.outbox.filter((i) => i !== item);
        store(outboxKey(this.saved.id), this.outbox);
        const li = document.querySelector(`#messages li[data-client-id="${CSS.escape(item.client_msg_id)}"]`);
        if (li) li.remove();
        this.$("message-input").value = item.body;
      }
    }
  }

  askEnd(button) {
    if (button.dataset.confirming) {
      delete button.dataset.confirming;
      this.socket.send({ type: "contact.end" });
      return;
    }
    button.dataset.confirming = "1";
    button.dataset.label = button.textContent;
    button.textContent = S.confirmEnd;
    setTimeout(() => {
      if (button.dataset.confirming) {
        delete button.dataset.confirming;
        button.textContent = button.dataset.label;
      }
    }, 6000);
  }

  showEnded(changed) {
    this.$("waiting").hidden = true;
    this.$("composer").hidden = true;
    this.$("end-chat").hidden = true;
    const ended = this.$("ended");
    const wasHidden = ended.hidden;
    ended.hidden = false;
    // Nobody was served when the customer left the queue: nothing to rate.
    if (this.contact.state === "abandoned" && !this.messages.size) this.$("feedback-form").hidden = true;
    if (changed && wasHidden) this.$("ended-heading").focus();
  }

  sendFeedback() {
    const form = this.$("feedback-form");
    const data = new FormData(form);
    const rating = Number(data.get("rating"));
    if (!(rating >= 1 && rating <= 5)) {
      this.$("feedback-error").textContent = S.required;
      return;
    }
    const can = data.get("can_do_myself");
    this.socket.send({
      type: "feedback",
      rating,
      comment: (data.get("comment") || "").slice(0, 2000),
      can_do_myself: can === "true" ? true : can === "false" ? false : null,
    });
    this.feedbackSent = true;
  }

  feedbackDone() {
    this.$("feedback-form").hidden = true;
    const thanks = this.$("feedback-thanks");
    thanks.hidden = false;
  }

  async requestCallback() {
    const number = this.$("callback-number").value.trim();
    const result = this.$("callback-result");
    if (!number) {
      result.textContent = S.required;
      return;
    }
    this.callbackRequested = true;
    try {
      const response = await fetch(`/api/contacts/${encodeURIComponent(this.saved.id)}/callback`, {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          Accept: "application/json",
          "X-Contact-Token": this.saved.token,
        },
        body: JSON.stringify({ callback_number: number, customer_key: customerKey() }),
      });
      const answer = await response.json().catch(() => ({}));
      if (response.status === 201) {
        this.callbackDone = true;
        this.socket.close();
        store(KEY_CONTACT, null);
        const done = el("p", { id: "callback-done", class: "notice", role: "status", tabindex: "-1", text: S.callbackDone });
        this.$("waiting").hidden = true;
        this.$("conversation").hidden = true;
        this.$("waiting").before(done);
        done.focus();
        return;
      }
      this.callbackRequested = false;
      result.textContent = flattenErrors(answer.detail).join(" ") || S.failed;
    } catch (err) {
      this.callbackRequested = false;
      result.textContent = S.failed;
    }
  }

  async downloadTranscript() {
    try {
      const response = await fetch(`/api/contacts/${encodeURIComponent(this.saved.id)}/transcript`, {
        headers: { "X-Contact-Token": this.saved.token },
      });
      if (!response.ok) throw new Error(String(response.status));
      const blob = await response.blob();
      const url = URL.createObjectURL(blob);
      const link = el("a", { href: url, download: "digituki-chat.txt" });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (err) {
      this.$("feedback-error").textContent = S.failed;
    }
  }
}

// --- boot -------------------------------------------------------------------

const startForm = document.getElementById("start-form");
if (startForm) setupStartPage(startForm);
const chatRoot = document.getElementById("chat-app");
if (chatRoot) {
  window.digitukiChat = new CustomerChat(chatRoot);
  window.digitukiChat.start();
}
