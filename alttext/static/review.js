// The review page: one card per proposal. Every text from the report goes in with textContent
// (a model's output is untrusted), and every request carries the session's token.
"use strict";

const token = new URLSearchParams(location.search).get("token") || "";
const state = { entries: [], current: 0, report: "" };
// An exported page (alttext review --export) carries its entries and pictures; it saves
// nothing, and downloads the decisions as a report for alttext apply.
const embedded = document.getElementById("entries-data");

async function call(path, body) {
  if (embedded) return local(path, body);
  const options = { headers: { "X-Alttext-Token": token } };
  if (body !== undefined) {
    options.method = "POST";
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  const value = await response.json();
  if (!response.ok) throw new Error(value.error || response.statusText);
  return value;
}

function local(path, body) {
  if (path === "/api/entries") return JSON.parse(embedded.textContent);
  const index = Number(path.split("/").pop());
  const entry = { ...state.entries[index] };
  if (body.alt !== undefined) entry.alt = body.alt;
  if (body.review) entry.review = body.review;
  else delete entry.review;
  return entry;
}

function download() {
  // What the server's Apply would write: the accepted and decorative entries.
  const entries = state.entries.filter((e) => e.review === "accepted" || e.review === "decorative")
    .map(({ index, has_image, picture, editor, ...entry }) => entry);
  const report = { schema_version: 1, generator: "alttext review --export", entries };
  const link = element("a", { href: URL.createObjectURL(new Blob([JSON.stringify(report, null, 2) + "\n"], { type: "application/json" })),
                              download: "reviewed.json" });
  document.body.append(link);
  link.click();
  link.remove();
}

function element(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes || {})) node.setAttribute(key, value);
  for (const child of children) node.append(child);
  return node;
}

function details(entry) {
  const list = element("dl");
  const add = (term, values) => {
    const items = (Array.isArray(values) ? values : [values]).filter((v) => v);
    if (!items.length) return;
    list.append(element("dt", {}, term));
    for (const item of items) list.append(element("dd", {}, String(item)));
  };
  add("Caption", entry.caption);
  add("Kind", entry.kind);
  add("Evidence the text was written from", entry.evidence);
  add("Page context", Object.entries(entry.context || {}).map(([key, value]) => `${key.replace("_", " ")}: ${value}`));
  add("Notes", entry.notes);
  add("Dropped sentences", entry.dropped);
  add("Lint", entry.lint);
  add("Why not fixed", entry.reason);
  return list;
}

function card(entry) {
  const node = element("article", { class: "card", id: `entry-${entry.index}`, "data-index": entry.index, "data-review": entry.review || "" });
  // Only the server sets these two; a picture is a data: image or this server's, and a link never
  // runs script, whatever a report says.
  const embeddedPicture = typeof entry.picture === "string" && entry.picture.startsWith("data:image/") ? entry.picture : "";
  const source = embeddedPicture || (entry.has_image && !embedded ? `/image/${entry.index}?token=${encodeURIComponent(token)}` : "");
  const editor = typeof entry.editor === "string" && !/^\s*(javascript|data|vbscript|blob):/i.test(entry.editor) ? entry.editor : "";
  const picture = source ? element("img", { src: source, alt: "", loading: "lazy" }) : element("p", {}, "(no picture in the project)");
  const place = `${entry.path}:${entry.line}:${entry.column}`;
  const where = element("p", { class: "where" }, editor ? element("a", { href: editor }, place) : place, `  ${entry.src || ""}`);
  const text = element("textarea", { "aria-label": "alt text", rows: "3" });
  text.value = entry.alt || "";
  const status = element("p", { class: "status" });
  const body = element("div", {},
    where,
    entry.needs_review ? element("p", {}, element("span", { class: "flag" }, "needs review")) : "",
    text,
    element("div", {},
      button("Accept", () => decide(entry.index, "accepted", text.value)),
      button("Edit", () => text.focus()),
      button("Decorative", () => decide(entry.index, "decorative")),
      button("Skip", () => decide(entry.index, "skipped"))),
    status,
    details(entry));
  node.append(element("div", {}, picture), body);
  showStatus(node, entry);
  return node;
}

function button(label, action) {
  const node = element("button", { type: "button" }, label);
  node.addEventListener("click", action);
  return node;
}

function showStatus(node, entry) {
  node.dataset.review = entry.review || "";
  node.querySelector(".status").textContent = entry.review ? `Decision: ${entry.review}` : "Not decided";
}

async function decide(index, review, alt) {
  const body = { review };
  if (alt !== undefined) body.alt = alt;
  try {
    const entry = await call(`/api/entries/${index}`, body);
    state.entries[index] = entry;
    const node = document.getElementById(`entry-${index}`);
    node.querySelector("textarea").value = entry.alt || "";
    showStatus(node, entry);
    counts();
  } catch (error) {
    alert(`Not saved: ${error.message}`);
  }
}

function counts() {
  const done = state.entries.filter((e) => e.review).length;
  document.getElementById("counts").textContent = `${done} decided, ${state.entries.length - done} left`;
}

function visible() {
  return [...document.querySelectorAll(".card")].filter((node) => !node.classList.contains("hidden"));
}

function focus(offset) {
  const cards = visible();
  if (!cards.length) return;
  const at = Math.max(0, cards.findIndex((node) => node.classList.contains("current")));
  const next = cards[Math.min(cards.length - 1, Math.max(0, at + offset))];
  for (const node of cards) node.classList.remove("current");
  next.classList.add("current");
  next.scrollIntoView({ block: "nearest" });
  state.current = Number(next.dataset.index);
}

function filter() {
  const only = document.getElementById("only-review").checked;
  for (const node of document.querySelectorAll(".card")) {
    const entry = state.entries[Number(node.dataset.index)];
    node.classList.toggle("hidden", only && !entry.needs_review);
  }
}

async function apply() {
  let text;
  try {
    text = (await call("/api/apply", {})).lines.join("\n");
  } catch (error) {
    text = `Not applied: ${error.message}`;
  }
  document.getElementById("applied").hidden = false;
  document.getElementById("applied-lines").textContent = text;
}

document.addEventListener("keydown", (event) => {
  if (event.target.tagName === "TEXTAREA") {
    if (event.key === "Escape") event.target.blur();
    return;
  }
  const node = document.getElementById(`entry-${state.current}`);
  const text = node && node.querySelector("textarea");
  const actions = {
    j: () => focus(1),
    k: () => focus(-1),
    a: () => decide(state.current, "accepted", text.value),
    e: () => text.focus(),
    d: () => decide(state.current, "decorative"),
    s: () => decide(state.current, "skipped"),
  };
  if (actions[event.key] && !event.ctrlKey && !event.metaKey && !event.altKey) {
    event.preventDefault();
    actions[event.key]();
  }
});

async function start() {
  const data = await call("/api/entries");
  state.entries = data.entries;
  document.getElementById("report").textContent = data.report;
  const cards = document.getElementById("cards");
  for (const entry of state.entries) cards.append(card(entry));
  document.getElementById("only-review").addEventListener("change", filter);
  const action = document.getElementById("apply");
  if (embedded) {
    action.textContent = "Download the reviewed report";
    action.addEventListener("click", download);
  } else {
    action.addEventListener("click", apply);
  }
  counts();
  focus(0);
}

start().catch((error) => {
  document.getElementById("cards").textContent = `The report could not be loaded: ${error.message}`;
});
