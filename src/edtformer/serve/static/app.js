// The edt serve page: draw a molecule's patches (POST /v1/patch), plot its per-atom entropy, and
// chat about it (POST /v1/chat/completions, streamed). Plain JS, no build step, no network
// beyond this server.
"use strict";

const $ = (id) => document.getElementById(id);
const SVG_NS = "http://www.w3.org/2000/svg";
let modelId = null;
let history = [];      // OpenAI messages of the conversation so far
let chatSmiles = null; // the molecule the conversation is about

async function postJSON(path, body) {
  const r = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error((data.error && data.error.message) || `HTTP ${r.status}`);
  return data;
}

async function loadModel() {
  const r = await fetch("/v1/models");
  const data = await r.json();
  modelId = data.data[0].id;
  $("model-name").textContent = `model: ${modelId}`;
}

function svgEl(name, attrs, text) {
  const el = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

// Bars of entropy (bits) per atom, coloured by the atom's patch, atom symbol and index below.
function plotEntropy(out) {
  const n = out.entropy.length;
  const bar = 22, gap = 4, h = 160, top = 12, bottom = 34, left = 34;
  const w = left + n * (bar + gap) + 10;
  const maxH = Math.max(1, ...out.entropy);
  const svg = svgEl("svg", { viewBox: `0 0 ${w} ${h + top + bottom}`, role: "img",
                             "data-atoms": String(n) });
  svg.appendChild(svgEl("line", { x1: left - 4, y1: top, x2: left - 4, y2: top + h, stroke: "#999" }));
  for (const t of [0, maxH / 2, maxH]) {
    const y = top + h - (t / maxH) * h;
    svg.appendChild(svgEl("text", { x: left - 8, y: y + 4, "text-anchor": "end", "font-size": 10 },
                          t.toFixed(1)));
  }
  out.entropy.forEach((e, i) => {
    const x = left + i * (bar + gap);
    const bh = (e / maxH) * h;
    const colour = out.palette[out.patch_ids[i] % out.palette.length];
    const rect = svgEl("rect", { x, y: top + h - bh, width: bar, height: Math.max(bh, 1),
                                 fill: colour, stroke: "#555", "stroke-width": 0.5, class: "bar" });
    rect.appendChild(svgEl("title", {}, `atom ${i} ${out.atoms[i]}: ${e.toFixed(2)} bits, patch ${out.patch_ids[i]}`));
    svg.appendChild(rect);
    svg.appendChild(svgEl("text", { x: x + bar / 2, y: top + h + 13, "text-anchor": "middle",
                                    "font-size": 11 }, out.atoms[i]));
    svg.appendChild(svgEl("text", { x: x + bar / 2, y: top + h + 26, "text-anchor": "middle",
                                    "font-size": 9, fill: "#777" }, String(i)));
  });
  $("plot").replaceChildren(svg);
}

async function drawMolecule() {
  const smiles = $("smiles").value.trim();
  $("mol-error").textContent = "";
  try {
    const out = await postJSON("/v1/patch", { smiles, rule: $("rule").value });
    $("drawing").innerHTML = out.svg;
    $("drawing").dataset.rule = out.rule;
    plotEntropy(out);
    const brics = out.brics_ids ? `, ${Math.max(...out.brics_ids) + 1} BRICS fragments` : "";
    $("patch-summary").textContent =
      `${out.atoms.length} atoms, ${out.n_patches} patches (${out.rule})${brics}; canonical ${out.canonical_smiles}`;
    if (chatSmiles !== smiles) resetChat();
  } catch (err) {
    $("mol-error").textContent = err.message;
  }
}

function resetChat() {
  history = [];
  chatSmiles = null;
  $("messages").replaceChildren();
  $("chat-error").textContent = "";
}

function addMessage(role, text) {
  const div = document.createElement("div");
  div.className = `msg ${role}`;
  div.textContent = text;
  $("messages").appendChild(div);
  $("messages").scrollTop = $("messages").scrollHeight;
  return div;
}

// Reads server-sent events from a fetch response; calls onData with each parsed `data:` object.
async function readEvents(response, onData) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      for (const line of event.split("\n")) {
        if (!line.startsWith("data: ")) continue;
        const payload = line.slice(6);
        if (payload === "[DONE]") return;
        onData(JSON.parse(payload));
      }
    }
  }
}

async function ask(question) {
  const smiles = $("smiles").value.trim();
  $("chat-error").textContent = "";
  if (chatSmiles !== null && chatSmiles !== smiles) resetChat();
  const turn = history.length === 0
    ? { role: "user", content: [{ type: "molecule", smiles }, { type: "text", text: question }] }
    : { role: "user", content: question };
  addMessage("user", question);
  const bubble = addMessage("assistant pending", "");
  $("send").disabled = true;
  try {
    const r = await fetch("/v1/chat/completions", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        model: modelId, stream: true, messages: [...history, turn],
        max_tokens: Number($("max-tokens").value) || 64,
      }),
    });
    if (!r.ok) {
      const data = await r.json().catch(() => ({}));
      throw new Error((data.error && data.error.message) || `HTTP ${r.status}`);
    }
    let answer = "";
    let facts = null;
    await readEvents(r, (data) => {
      if (data.error) throw new Error(data.error.message);
      const delta = data.choices && data.choices[0] && data.choices[0].delta;
      if (delta && delta.content) {
        answer += delta.content;
        bubble.textContent = answer;
      }
      if (data.edt && data.edt.facts) facts = data.edt.facts;
    });
    if (!answer) bubble.textContent = "(empty answer)";
    if (facts && facts.length) {
      // the exact RDKit fact-sheet lines the LLM read, under its answer
      const details = document.createElement("details");
      details.className = "facts";
      const summary = document.createElement("summary");
      summary.textContent = "facts the model read (RDKit)";
      const pre = document.createElement("pre");
      pre.textContent = facts.join("\n\n");
      details.append(summary, pre);
      bubble.after(details);
    }
    history.push(turn, { role: "assistant", content: answer });
    chatSmiles = smiles;
    bubble.dataset.done = "true";
  } catch (err) {
    bubble.remove();
    $("messages").lastChild && $("messages").lastChild.remove();
    $("chat-error").textContent = err.message;
  } finally {
    bubble.classList.remove("pending");
    $("send").disabled = false;
  }
}

$("mol-form").addEventListener("submit", (e) => { e.preventDefault(); drawMolecule(); });
$("rule").addEventListener("change", drawMolecule);
$("examples").addEventListener("change", () => {
  if ($("examples").value) { $("smiles").value = $("examples").value; drawMolecule(); }
});
$("chat-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const q = $("question").value.trim();
  if (q) { $("question").value = ""; ask(q); }
});
$("question").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("chat-form").requestSubmit(); }
});
$("reset").addEventListener("click", resetChat);
loadModel().then(drawMolecule).catch((err) => { $("mol-error").textContent = err.message; });
