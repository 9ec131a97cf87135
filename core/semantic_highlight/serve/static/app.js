// The semantic-highlight web page: sends the form to POST v1/highlight and renders the results.
// Plain browser JavaScript, no dependencies. User text only ever goes into the DOM as text nodes.
"use strict";

const EXAMPLES = {
  en: {
    query: "iPhone performance",
    passages: [
      "The A15 chip scores over a million in benchmarks, and apps open with no lag. The case comes in blue, " +
        "green and black. Battery life is about a day of normal use.",
      "The river rises in the northern hills and flows south through farmland. Engineers built a dam in 1931 " +
        "to control floods. The reservoir is now popular with anglers.",
    ],
  },
  zh: {
    query: "水坝是什么时候修建的？",
    passages: [
      "这条河发源于北部山区，向南流经农田。河水养育了三座城镇。工程师们在1931年修建了水坝以控制洪水。" +
        "如今水库很受垂钓者欢迎。",
      "The dam was finished in the spring of 1931. 当地报纸称其为“世纪工程”。Fishing is allowed on weekends.",
    ],
  },
};

const OPTION_FIELDS = [
  ["threshold", parseFloat],
  ["fallback_threshold", parseFloat],
  ["relative_threshold", parseFloat],
  ["top_k", (v) => parseInt(v, 10)],
  ["min_score", parseFloat],
];

const $ = (id) => document.getElementById(id);
let inFlight = null;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function addPassage(text = "") {
  const node = $("passage-template").content.firstElementChild.cloneNode(true);
  const area = node.querySelector("textarea");
  area.value = text;
  node.querySelector(".remove").addEventListener("click", () => {
    if (document.querySelectorAll("#passages .passage").length > 1) node.remove();
    else area.value = "";
    renumberPassages();
  });
  $("passages").append(node);
  renumberPassages();
  return area;
}

function renumberPassages() {
  document.querySelectorAll("#passages textarea").forEach((area, i) => {
    area.setAttribute("aria-label", `Passage ${i + 1}`);
    area.name = `passage-${i + 1}`;
  });
}

function loadExample(name) {
  const example = EXAMPLES[name];
  $("query").value = example.query;
  $("passages").replaceChildren();
  example.passages.forEach((p) => addPassage(p));
}

function readRequest() {
  const query = $("query").value;
  const passages = [];
  document.querySelectorAll("#passages textarea").forEach((area, i) => {
    if (area.value.trim()) passages.push({ number: i + 1, text: area.value });
  });
  const body = { query, documents: passages.map((p) => p.text) };
  for (const [name, parse] of OPTION_FIELDS) {
    const raw = $(name).value.trim();
    if (raw !== "") body[name] = parse(raw);
  }
  return { body, passages };
}

function showError(title, detail, hint) {
  const box = $("error");
  box.replaceChildren(el("strong", {}, title));
  if (detail) box.append(el("span", { class: "detail" }, detail));
  if (hint) box.append(el("span", { class: "hint" }, hint));
  box.hidden = false;
}

function clearError() {
  $("error").hidden = true;
  $("error").replaceChildren();
}

// Reads the server's JSON error {"error": {"type", "message", "param"}} (or FastAPI's {"detail"}, or plain text).
async function describeFailure(response) {
  const text = await response.text();
  let message = text.trim().slice(0, 500) || response.statusText;
  try {
    const data = JSON.parse(text);
    if (data && data.error) {
      const e = data.error;
      message = (e.message || e.type || message) + (e.param ? ` (field: ${e.param})` : "");
    } else if (data && data.detail) {
      message = typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail);
    }
  } catch (_) {
    // not JSON: keep the text
  }
  const hints = { 401: "Check the API key under Options.", 413: "The request is over the server's limits.",
    429: "The server is busy; try again shortly.", 503: "The model is still loading; try again shortly." };
  return { title: `Error ${response.status}`, detail: message, hint: hints[response.status] };
}

// Python offsets count code points; Array.from splits a string the same way (astral characters stay whole).
function renderDocument(result) {
  const chars = Array.from(result.text);
  const doc = el("div", { class: "doc" });
  let pos = 0;
  for (const s of result.sentences) {
    if (s.start > pos) doc.append(chars.slice(pos, s.start).join(""));
    const sentence = chars.slice(s.start, s.end).join("");
    const score = s.score.toFixed(3);
    if (s.selected) {
      const body = sentence.replace(/\s+$/u, "");
      const mark = el("mark", {
        class: "hl",
        title: `score ${score}`,
        dataset: { index: s.index, start: s.start, end: s.end, score: String(s.score), label: s.score.toFixed(2) },
      }, body);
      mark.style.setProperty("--strength", String(Math.max(0.35, Math.min(1, s.score))));
      doc.append(mark, sentence.slice(body.length));
    } else {
      doc.append(el("span", { class: "sent", title: `score ${score}`, dataset: { index: s.index, score: String(s.score) } }, sentence));
    }
    pos = s.end;
  }
  if (pos < chars.length) doc.append(chars.slice(pos).join(""));
  return doc;
}

function renderScores(result) {
  const list = el("ol", { class: "bars" });
  const t = result.threshold;
  for (const s of result.sentences) {
    const bar = el("span", { class: "bar" }, el("span", { class: "fill" }));
    bar.firstChild.style.width = `${(Math.max(0, Math.min(1, s.score)) * 100).toFixed(1)}%`;
    const tick = el("span", { class: "tick", title: `threshold ${t}` });
    tick.style.left = `${(Math.max(0, Math.min(1, t)) * 100).toFixed(1)}%`;
    bar.append(tick);
    list.append(el("li", { class: s.selected ? "on" : "" },
      el("span", { class: "num" }, s.score.toFixed(3)), bar, el("span", { class: "text" }, s.text.trim())));
  }
  return el("details", { class: "scores" }, el("summary", {}, "All sentence scores"), list);
}

function renderResult(result, number) {
  const chosen = result.highlights.length;
  const total = result.sentences.length;
  const head = el("header", {},
    el("h2", {}, `Passage ${number}`),
    el("span", { class: "chip" }, `best ${result.score.toFixed(3)}`),
    el("span", { class: "muted" }, `${chosen} of ${total} sentence${total === 1 ? "" : "s"} highlighted`));
  if (result.ranking_score !== null && result.ranking_score !== undefined) {
    head.append(el("span", { class: "chip soft", title: "the checkpoint's document ranking head" },
      `ranking ${result.ranking_score.toFixed(3)}`));
  }
  const share = result.text.length ? Math.round((100 * result.pruned_text.length) / result.text.length) : 0;
  const copy = el("button", { type: "button", class: "ghost copy" }, "Copy");
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(result.pruned_text);
      copy.textContent = "Copied";
    } catch (_) {
      copy.textContent = "Copy failed";
    }
    setTimeout(() => (copy.textContent = "Copy"), 1500);
  });
  const pruned = el("div", { class: "pruned" },
    el("div", { class: "pruned-head" }, el("span", { class: "label" }, `Pruned text · ${share}% of the passage`), copy),
    result.pruned_text
      ? el("pre", { class: "pruned-text" }, result.pruned_text)
      : el("p", { class: "muted empty" }, "Nothing selected: no sentence passed the thresholds."));
  return el("article", { class: "result", dataset: { doc: String(number - 1) } },
    head, renderDocument(result), pruned, renderScores(result));
}

async function submit(event) {
  event.preventDefault();
  clearError();
  const { body, passages } = readRequest();
  if (!body.query.trim()) return showError("Missing query", "Type what you are looking for.");
  if (!passages.length) return showError("No passage", "Paste at least one passage.");
  if (inFlight) inFlight.abort();
  const controller = new AbortController();
  inFlight = controller;
  const headers = { "Content-Type": "application/json", Accept: "application/json" };
  const key = $("api-key").value.trim();
  if (key) headers.Authorization = `Bearer ${key}`;
  $("submit").disabled = true;
  $("status").textContent = "Scoring…";
  document.body.classList.add("busy");
  const started = performance.now();
  try {
    const response = await fetch("v1/highlight", { method: "POST", headers, body: JSON.stringify(body), signal: controller.signal });
    if (!response.ok) {
      const failure = await describeFailure(response);
      showError(failure.title, failure.detail, failure.hint);
      $("status").textContent = "";
      if (response.status === 401) {
        $("api-key").closest("details").open = true;
        $("api-key").focus();
      }
      return;
    }
    const data = await response.json();
    const ms = Math.round(performance.now() - started);
    if (data.model) $("model").textContent = data.model;
    $("results").replaceChildren(...data.results.map((r, i) => renderResult(r, passages[i].number)));
    const marked = data.results.reduce((n, r) => n + r.highlights.length, 0);
    $("status").textContent = `${marked} sentence${marked === 1 ? "" : "s"} highlighted in ${data.results.length} passage${data.results.length === 1 ? "" : "s"} · ${ms} ms`;
  } catch (err) {
    if (err.name === "AbortError") return;
    showError("Could not reach the server", String(err.message || err));
    $("status").textContent = "";
  } finally {
    if (inFlight === controller) {
      inFlight = null;
      $("submit").disabled = false;
      document.body.classList.remove("busy");
    }
  }
}

// Shows the served model and its default thresholds (GET v1/models); best effort: the route needs the key
// when the server has one, so it is asked again when the key changes.
async function showModel() {
  const headers = { Accept: "application/json" };
  const key = $("api-key").value.trim();
  if (key) headers.Authorization = `Bearer ${key}`;
  try {
    const response = await fetch("v1/models", { headers });
    if (!response.ok) return;
    const data = await response.json();
    const card = (data.data || [])[0];
    if (!card) return;
    $("model").textContent = card.id;
    const defaults = {
      threshold: card.default_threshold,
      fallback_threshold: card.default_fallback_threshold,
      relative_threshold: card.default_relative_threshold,
    };
    for (const [name, value] of Object.entries(defaults)) {
      $(name).placeholder = value === null || value === undefined ? "none" : `default ${value}`;
    }
  } catch (_) {
    // another server or no connection: leave the defaults unnamed
  }
}

document.addEventListener("DOMContentLoaded", () => {
  addPassage();
  $("form").addEventListener("submit", submit);
  $("add-passage").addEventListener("click", () => addPassage().focus());
  $("example-en").addEventListener("click", () => loadExample("en"));
  $("example-zh").addEventListener("click", () => loadExample("zh"));
  document.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) $("form").requestSubmit();
  });
  $("api-key").addEventListener("change", showModel);
  showModel();
});
