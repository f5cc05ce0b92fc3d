// Shared by the pages: the page's boot data and strings, DOM building
// (text only: data never becomes markup), the API client (session cookie
// plus the CSRF token on every change) and the live event stream.

const bootElement = document.getElementById("boot");
export const boot = bootElement ? JSON.parse(bootElement.textContent) : { strings: {} };
const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";

/** A string of the interface, with `{name}` filled from `vars`. */
export function t(key, vars = {}) {
  const text = boot.strings[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

/**
 * Build an element: `h("button", {class: "x", onclick: f}, "text", child)`.
 * Strings become text nodes, so a customer's message can never become markup.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      el.className = value;
    } else if (name === "dataset") {
      Object.assign(el.dataset, value);
    } else if (value === true) {
      el.setAttribute(name, "");
    } else {
      el.setAttribute(name, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** An error the API answered: `{error: {code, message}}` with its status. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Call the API as the signed-in user. */
export async function api(path, { method = "GET", body, headers = {}, raw = false } = {}) {
  const init = { method, headers: { ...headers }, credentials: "same-origin" };
  if (method !== "GET" && method !== "HEAD") init.headers["X-CSRF-Token"] = csrf;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path.startsWith("/") ? path : `/v1/${path}`, init);
  if (response.status === 401 && !path.startsWith("/chat/")) {
    // The session ended (expired, key rotated): back to sign-in.
    location.assign("/sign-in");
    throw new ApiError(401, "unauthorized", t("session_ended"));
  }
  if (raw) return response;
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = data?.error || {};
    throw new ApiError(response.status, error.code || String(response.status), error.message || text);
  }
  return data;
}

/**
 * Follow a Server-Sent Events stream with `fetch` (so it can carry headers),
 * resuming from the last id after a drop. `onEvent(kind, data)` per event.
 * Returns a function that stops it.
 */
export function follow(url, onEvent, { headers = {}, onState = () => {} } = {}) {
  let lastId = null;
  let stopped = false;
  let controller = null;
  async function run() {
    let delay = 500;
    while (!stopped) {
      controller = new AbortController();
      try {
        const h = { ...headers, Accept: "text/event-stream" };
        if (lastId !== null) h["Last-Event-ID"] = lastId;
        const response = await fetch(url, { headers: h, signal: controller.signal, credentials: "same-origin" });
        if (response.status === 401 || response.status === 403 || response.status === 404) {
          onState("refused", response.status);
          return;
        }
        if (!response.ok || !response.body) throw new Error(`stream answered ${response.status}`);
        onState("live");
        delay = 500;
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            let kind = "message";
            let id = null;
            const data = [];
            for (const line of block.split("\n")) {
              if (line.startsWith("event:")) kind = line.slice(6).trim();
              else if (line.startsWith("id:")) id = line.slice(3).trim();
              else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
            }
            if (id !== null) lastId = id;
            if (data.length) {
              try {
                onEvent(kind, JSON.parse(data.join("\n")));
              } catch (error) {
                console.error("event", kind, error);
              }
            }
          }
        }
      } catch (error) {
        if (stopped) return;
      }
      onState("reconnecting");
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 10_000);
    }
  }
  run();
  return () => {
    stopped = true;
    controller?.abort();
  };
}

/** "3 min", "2 h 5 min": how long since `ms`. */
export function since(ms, now = Date.now()) {
  const seconds = Math.max(0, Math.round((now - ms) / 1000));
  if (seconds < 60) return t("time.seconds", { n: seconds });
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return t("time.minutes", { n: minutes });
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return t("time.hours", { h: hours, m: minutes % 60 });
  return t("time.days", { n: Math.floor(hours / 24) });
}

/** A clock time in the interface's language. */
export function clock(ms) {
  return new Date(ms).toLocaleTimeString(boot.lang === "zh" ? "zh-CN" : "en-GB", {
    hour: "2-digit",
    minute: "2-digit",
  });
}

// Two live regions, made with the page so screen readers know them before
// the first message: polite for news, assertive for errors.
const regions = {
  info: h("div", { id: "announce", class: "toast", role: "status", "aria-live": "polite" }),
  error: h("div", { id: "announce-error", class: "toast", role: "alert", "aria-live": "assertive", dataset: { kind: "error" } }),
};
document.body.append(regions.info, regions.error);

/** A message in the page's live region: read out by screen readers. */
export function announce(text, kind = "info") {
  const region = kind === "error" ? regions.error : regions.info;
  const other = kind === "error" ? regions.info : regions.error;
  other.textContent = "";
  region.textContent = text;
  clearTimeout(announce.timer);
  announce.timer = setTimeout(() => {
    region.textContent = "";
  }, 6000);
}

/** Ask before doing something that changes what customers get. */
export function confirmDialog(message, confirmLabel) {
  return new Promise((resolve) => {
    const dialog = h(
      "dialog",
      { class: "confirm", "aria-labelledby": "confirm-text" },
      h("p", { id: "confirm-text" }, message),
      h(
        "form",
        { method: "dialog", class: "row" },
        h("button", { value: "cancel", type: "submit" }, t("cancel")),
        h("button", { value: "ok", type: "submit", class: "primary", autofocus: true }, confirmLabel || t("confirm")),
      ),
    );
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "ok");
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** Highlight `spans` ({start, end, kind, title} in UTF-16 offsets) in `text`. */
export function marked(text, spans) {
  const sorted = spans
    .filter((s) => s.end > s.start && s.start >= 0 && s.end <= text.length)
    .sort((a, b) => a.start - b.start);
  const parts = [];
  let at = 0;
  for (const span of sorted) {
    if (span.start < at) continue;
    if (span.start > at) parts.push(text.slice(at, span.start));
    parts.push(h("mark", { class: `hl ${span.kind}`, title: span.title }, text.slice(span.start, span.end)));
    at = span.end;
  }
  parts.push(text.slice(at));
  return parts;
}
