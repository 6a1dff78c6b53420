// markerless labelling page: plain JavaScript, no build step.
// Every edit is sent at once (PUT of the whole frame with the version it was based on); a 409 answer
// means another tab or process changed the frame first: the page says so and reloads that frame.
"use strict";

const params = new URLSearchParams(location.search);
if (params.get("token")) {
  sessionStorage.setItem("markerless_token", params.get("token"));
  history.replaceState(null, "", location.pathname + location.hash);
}
const TOKEN = sessionStorage.getItem("markerless_token") || "";

const $ = (id) => document.getElementById(id);
const canvas = $("canvas");
const ctx = canvas.getContext("2d");
const state = {
  project: null, video: null, frames: [], frame: null, image: null,
  ind: 0, kp: 0, view: { scale: 1, ox: 0, oy: 0 }, undo: [],
  drag: null, space: false, saving: Promise.resolve(), pending: 0, generation: 0,
};
const HIT = 9; // px: how close a click must be to grab a point

async function api(method, path, body) {
  const opts = { method, headers: { "X-Markerless-Token": TOKEN } };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(path, opts);
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const err = new Error(data.detail || res.statusText);
    err.status = res.status;
    throw err;
  }
  return data;
}

function setStatus(kind, text) {
  const el = $("status");
  el.dataset.state = kind;
  el.textContent = text;
}

function colour(k, alpha = 1) {
  const n = state.project.keypoints.length;
  const hue = Math.round((300 * k) / Math.max(1, n - 1));
  return `hsla(${hue}, 90%, 55%, ${alpha})`;
}

// --- loading -----------------------------------------------------------------------------------
async function loadProject() {
  state.project = await api("GET", "/api/project");
  const p = state.project;
  $("project-name").textContent = `${p.task} · labeller ${p.scorer} · iteration ${p.iteration}`;
  const sel = $("individual");
  sel.innerHTML = "";
  p.individuals.forEach((name, i) => sel.add(new Option(name, i)));
  $("individual-picker").hidden = p.individuals.length < 2;
  renderVideos();
  const [hv, hf] = decodeURIComponent(location.hash.slice(1)).split("/");
  const video = p.videos.find((v) => v.name === hv) ? hv : (p.videos[0] || {}).name;
  if (video) await openVideo(video, hf);
}

function renderVideos() {
  const ul = $("videos");
  ul.innerHTML = "";
  for (const v of state.project.videos) {
    const li = document.createElement("li");
    li.className = v.name === state.video ? "current" : "";
    li.innerHTML = `<span></span><span class="count">${v.n_labelled}/${v.n_frames}</span>`;
    li.firstChild.textContent = v.name;
    li.title = `${v.n_labelled} of ${v.n_frames} frames labelled` + (v.n_suggested ? `, ${v.n_suggested} with suggestions` : "");
    li.onclick = () => openVideo(v.name);
    ul.appendChild(li);
  }
}

async function refreshLists() {
  const p = await api("GET", "/api/project");
  state.project.videos = p.videos;
  renderVideos();
  state.frames = await api("GET", `/api/videos/${encodeURIComponent(state.video)}/frames`);
  renderFrames();
}

async function openVideo(name, frameName) {
  state.video = name;
  state.frames = await api("GET", `/api/videos/${encodeURIComponent(name)}/frames`);
  renderVideos();
  renderFrames();
  const target = state.frames.find((f) => f.name === frameName) || state.frames[0];
  if (target) await openFrame(target.name);
}

function validCount() {
  return state.project.valid.flat().filter(Boolean).length;
}

function renderFrames() {
  const ul = $("frames");
  ul.innerHTML = "";
  const total = validCount();
  let labelled = 0;
  for (const f of state.frames) {
    if (f.n_points > 0) labelled++;
    const li = document.createElement("li");
    li.dataset.name = f.name;
    li.className = [f.n_points >= total ? "done" : "", f.suggested ? "suggested" : "",
      state.frame && f.name === state.frame.name ? "current" : ""].join(" ");
    li.innerHTML = `<span></span><span class="count">${f.n_points}/${total}</span>`;
    li.firstChild.textContent = f.name;
    li.onclick = () => openFrame(f.name);
    ul.appendChild(li);
  }
  $("frame-progress").textContent = `${labelled}/${state.frames.length}`;
  const cur = ul.querySelector("li.current");
  if (cur) cur.scrollIntoView({ block: "nearest" });
}

async function openFrame(name) {
  await state.saving;
  const frame = await api("GET", `/api/videos/${encodeURIComponent(state.video)}/frames/${encodeURIComponent(name)}`);
  const img = new Image();
  img.src = `/api/image/${encodeURIComponent(state.video)}/${encodeURIComponent(name)}`;
  await img.decode().catch(() => setStatus("error", `could not load ${name}`));
  const sameSize = state.image && state.image.naturalWidth === img.naturalWidth && state.image.naturalHeight === img.naturalHeight;
  state.frame = frame;
  state.image = img;
  state.undo = [];
  history.replaceState(null, "", `#${encodeURIComponent(state.video)}/${encodeURIComponent(name)}`);
  $("frame-title").textContent = `${state.video} / ${name}`;
  if (!sameSize) fit();
  selectFirstUnlabelled();
  renderFrames();
  renderParts();
  draw();
}

async function reloadFrame(message) {
  const banner = $("conflict");
  banner.textContent = message;
  banner.hidden = false;
  setTimeout(() => { banner.hidden = true; }, 6000);
  if (state.frame) await openFrame(state.frame.name);
}

// --- saving ------------------------------------------------------------------------------------
function snapshot() {
  const f = state.frame;
  return { name: f.name, points: JSON.parse(JSON.stringify(f.points)), occluded: JSON.parse(JSON.stringify(f.occluded)) };
}

function change(mutate) {
  state.undo.push(snapshot());
  mutate(state.frame);
  afterEdit();
}

function afterEdit() {
  renderParts();
  draw();
  queueSave(state.frame, (f) => api("PUT", framePath(f), { version: f.version, points: f.points, occluded: f.occluded }));
}

function framePath(f) {
  return `/api/videos/${encodeURIComponent(f.video)}/frames/${encodeURIComponent(f.name)}`;
}

function queueSave(frame, send, adopt = false) {
  state.pending++;
  setStatus("saving", "saving…");
  const generation = state.generation;
  state.saving = state.saving.then(async () => {
    if (generation !== state.generation) { state.pending--; return; } // dropped by a conflict reload
    try {
      const saved = await send(frame);
      frame.version = saved.version;
      if (adopt) {
        // take what the server filled in (accepted suggestions), keep edits made meanwhile
        saved.points.forEach((row, i) => row.forEach((p, k) => { if (p && !frame.points[i][k]) frame.points[i][k] = p; }));
      }
      setStatus(state.pending > 1 ? "saving" : "idle", state.pending > 1 ? "saving…" : "all changes saved");
    } catch (err) {
      if (err.status === 409) {
        setStatus("conflict", "conflict: frame reloaded");
        state.pending--;
        state.generation++;
        state.saving = Promise.resolve();
        reloadFrame(`Not saved: ${err.message}`);
        return;
      }
      setStatus("error", `not saved: ${err.message}`);
    }
    state.pending--;
    refreshLists().catch(() => {});
  });
  return state.saving;
}

function undo() {
  const last = state.undo.pop();
  if (!last || last.name !== state.frame.name) return;
  state.frame.points = last.points;
  state.frame.occluded = last.occluded;
  afterEdit();
}

function acceptSuggestions(cells) {
  if (!state.frame.suggestions) return;
  state.undo.push(snapshot());
  queueSave(state.frame, (f) => api("POST", `${framePath(f)}/accept`, { version: f.version, cells }), true)
    .then(() => { renderParts(); draw(); });
}

// --- geometry ----------------------------------------------------------------------------------
function toCanvas(x, y) {
  const v = state.view;
  return [v.ox + (x + 0.5) * v.scale, v.oy + (y + 0.5) * v.scale];
}

function toImage(cx, cy) {
  const v = state.view;
  return [(cx - v.ox) / v.scale - 0.5, (cy - v.oy) / v.scale - 0.5];
}

function fit() {
  resize();
  if (!state.image || !state.image.naturalWidth) return;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  const s = Math.min(w / state.image.naturalWidth, h / state.image.naturalHeight) * 0.98;
  state.view = { scale: s, ox: (w - state.image.naturalWidth * s) / 2, oy: (h - state.image.naturalHeight * s) / 2 };
  draw();
}

function resize() {
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.round(canvas.clientWidth * dpr);
  canvas.height = Math.round(canvas.clientHeight * dpr);
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
}

function eventPos(ev) {
  const r = canvas.getBoundingClientRect();
  return [ev.clientX - r.left, ev.clientY - r.top];
}

function hitPoint(cx, cy) {
  // ground-truth points of the selected individual first, then any individual, then suggestions
  const f = state.frame;
  const order = [state.ind, ...f.points.map((_, i) => i).filter((i) => i !== state.ind)];
  for (const i of order) {
    for (let k = 0; k < f.points[i].length; k++) {
      const p = f.points[i][k];
      if (!p) continue;
      const [px, py] = toCanvas(p[0], p[1]);
      if (Math.hypot(px - cx, py - cy) <= HIT) return { kind: "point", i, k };
    }
  }
  if (f.suggestions) {
    for (const i of order) {
      for (let k = 0; k < f.suggestions[i].length; k++) {
        const s = f.suggestions[i][k];
        if (!s || f.points[i][k]) continue;
        const [px, py] = toCanvas(s[0], s[1]);
        if (Math.hypot(px - cx, py - cy) <= HIT) return { kind: "suggestion", i, k };
      }
    }
  }
  return null;
}

// --- drawing -----------------------------------------------------------------------------------
function draw() {
  const w = canvas.clientWidth, h = canvas.clientHeight;
  ctx.clearRect(0, 0, w, h);
  if (!state.image || !state.frame) return;
  const v = state.view;
  ctx.imageSmoothingEnabled = v.scale < 2;
  ctx.drawImage(state.image, v.ox, v.oy, state.image.naturalWidth * v.scale, state.image.naturalHeight * v.scale);
  const f = state.frame;
  const r = 6;
  f.points.forEach((row, i) => {
    const alpha = i === state.ind ? 1 : 0.55;
    ctx.lineWidth = 2;
    for (const [a, b] of state.project.edges) {
      const pa = row[a], pb = row[b];
      if (!pa || !pb) continue;
      ctx.strokeStyle = `rgba(255,255,255,${0.7 * alpha})`;
      ctx.beginPath();
      ctx.moveTo(...toCanvas(pa[0], pa[1]));
      ctx.lineTo(...toCanvas(pb[0], pb[1]));
      ctx.stroke();
    }
    if (f.suggestions) {
      f.suggestions[i].forEach((s, k) => {
        if (!s || row[k]) return;
        const [cx, cy] = toCanvas(s[0], s[1]);
        ctx.setLineDash([3, 3]);
        ctx.strokeStyle = colour(k, alpha);
        ctx.lineWidth = 2;
        ctx.beginPath();
        ctx.arc(cx, cy, r + 2, 0, 2 * Math.PI);
        ctx.stroke();
        ctx.setLineDash([]);
        const text = `${state.project.keypoints[k]} ${s[2].toFixed(2)}`;
        ctx.font = "12px system-ui";
        ctx.lineWidth = 3;
        ctx.strokeStyle = `rgba(0,0,0,${0.8 * alpha})`;
        ctx.strokeText(text, cx + r + 5, cy - r);
        ctx.fillStyle = `rgba(255,255,255,${alpha})`;
        ctx.fillText(text, cx + r + 5, cy - r);
      });
    }
    row.forEach((p, k) => {
      if (!p) return;
      const [cx, cy] = toCanvas(p[0], p[1]);
      const hidden = f.occluded[i][k];
      ctx.beginPath();
      ctx.arc(cx, cy, r, 0, 2 * Math.PI);
      ctx.fillStyle = colour(k, hidden ? 0.25 : alpha);
      ctx.fill();
      ctx.lineWidth = i === state.ind && k === state.kp ? 3 : 1.5;
      ctx.strokeStyle = i === state.ind && k === state.kp ? "#fff" : "rgba(0,0,0,0.7)";
      ctx.stroke();
      if (hidden) {
        ctx.strokeStyle = "#fff";
        ctx.lineWidth = 1.5;
        ctx.beginPath();
        ctx.moveTo(cx - r, cy - r); ctx.lineTo(cx + r, cy + r);
        ctx.moveTo(cx + r, cy - r); ctx.lineTo(cx - r, cy + r);
        ctx.stroke();
      }
    });
  });
}

function renderParts() {
  const ol = $("parts");
  ol.innerHTML = "";
  const f = state.frame;
  if (!f) return;
  state.project.keypoints.forEach((name, k) => {
    if (!state.project.valid[state.ind][k]) return;
    const p = f.points[state.ind][k];
    const s = f.suggestions && f.suggestions[state.ind][k];
    const li = document.createElement("li");
    li.dataset.kp = k;
    li.className = (k === state.kp ? "current " : "") + (f.occluded[state.ind][k] ? "occluded" : "");
    let label = "—";
    if (p) label = f.occluded[state.ind][k] ? "hidden" : "✓";
    else if (s) label = `suggested ${s[2].toFixed(2)}`;
    li.innerHTML = `<span><span class="swatch"></span><span class="name"></span></span><span class="state"></span>`;
    li.querySelector(".swatch").style.background = colour(k);
    li.querySelector(".name").textContent = `${k + 1}. ${name}`;
    li.querySelector(".state").textContent = label;
    li.onclick = () => { state.kp = k; renderParts(); draw(); };
    ol.appendChild(li);
  });
  const pending = f.suggestions && f.suggestions.some((row, i) => row.some((s, k) => s && !f.points[i][k]));
  $("accept-all").hidden = !pending;
}

// --- selection ---------------------------------------------------------------------------------
function validParts() {
  return state.project.keypoints.map((_, k) => k).filter((k) => state.project.valid[state.ind][k]);
}

function stepPart(delta) {
  const parts = validParts();
  const pos = parts.indexOf(state.kp);
  state.kp = parts[(pos + delta + parts.length) % parts.length];
  renderParts();
  draw();
}

function selectFirstUnlabelled() {
  const parts = validParts();
  state.kp = parts.find((k) => !state.frame.points[state.ind][k]) ?? parts[0];
}

function advanceAfterPlacing() {
  const parts = validParts();
  const pos = parts.indexOf(state.kp);
  const next = parts.slice(pos + 1).find((k) => !state.frame.points[state.ind][k]);
  if (next !== undefined) state.kp = next;
}

function stepFrame(delta) {
  const i = state.frames.findIndex((f) => f.name === state.frame.name);
  const next = state.frames[i + delta];
  if (next) openFrame(next.name);
}

// --- mouse -------------------------------------------------------------------------------------
canvas.addEventListener("mousedown", (ev) => {
  if (!state.frame) return;
  const [cx, cy] = eventPos(ev);
  const hit = state.space ? null : hitPoint(cx, cy);
  state.drag = { hit, start: [cx, cy], last: [cx, cy], moved: false, before: snapshot() };
  if (hit) {
    state.ind = hit.i;
    state.kp = hit.k;
    $("individual").value = hit.i;
    renderParts();
  }
});

window.addEventListener("mousemove", (ev) => {
  const d = state.drag;
  if (!d) return;
  const [cx, cy] = eventPos(ev);
  if (Math.hypot(cx - d.start[0], cy - d.start[1]) > 3) d.moved = true;
  if (d.hit && d.moved) {
    const [x, y] = toImage(cx, cy);
    state.frame.points[d.hit.i][d.hit.k] = [x, y];
    draw();
  } else if (!d.hit && d.moved) {
    canvas.classList.add("panning");
    state.view.ox += cx - d.last[0];
    state.view.oy += cy - d.last[1];
    draw();
  }
  d.last = [cx, cy];
});

window.addEventListener("mouseup", (ev) => {
  const d = state.drag;
  state.drag = null;
  canvas.classList.remove("panning");
  if (!d || !state.frame) return;
  if (d.hit && d.moved) {
    state.undo.push(d.before);
    afterEdit();
  } else if (d.hit && d.hit.kind === "suggestion") {
    acceptSuggestions([[d.hit.i, d.hit.k]]);
  } else if (!d.hit && !d.moved && !state.space && ev.target === canvas) {
    const [x, y] = toImage(...eventPos(ev));
    const img = state.image;
    if (x < -0.5 || y < -0.5 || x > img.naturalWidth - 0.5 || y > img.naturalHeight - 0.5) return;
    change((f) => { f.points[state.ind][state.kp] = [x, y]; f.occluded[state.ind][state.kp] = false; });
    advanceAfterPlacing();
    renderParts();
    draw();
  }
});

canvas.addEventListener("wheel", (ev) => {
  ev.preventDefault();
  const [cx, cy] = eventPos(ev);
  const factor = Math.exp(-ev.deltaY * 0.0015);
  const v = state.view;
  const s = Math.min(64, Math.max(0.05, v.scale * factor));
  v.ox = cx - ((cx - v.ox) * s) / v.scale;
  v.oy = cy - ((cy - v.oy) * s) / v.scale;
  v.scale = s;
  draw();
}, { passive: false });

// --- keyboard ----------------------------------------------------------------------------------
function toggleHelp(show) {
  $("help").hidden = show === undefined ? !$("help").hidden : !show;
}

window.addEventListener("keydown", (ev) => {
  if (ev.target.tagName === "SELECT" || ev.target.tagName === "INPUT") return;
  if (ev.key === "?") { toggleHelp(); return; }
  if (ev.key === "Escape") { toggleHelp(false); return; }
  if (!state.frame) return;
  const key = ev.key.length === 1 ? ev.key.toLowerCase() : ev.key;
  if (key === " ") { state.space = true; ev.preventDefault(); return; }
  if ((ev.ctrlKey || ev.metaKey) && key === "z") { ev.preventDefault(); undo(); return; }
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const actions = {
    ArrowRight: () => stepFrame(1), n: () => stepFrame(1),
    ArrowLeft: () => stepFrame(-1), p: () => stepFrame(-1),
    ArrowDown: () => stepPart(1), ArrowUp: () => stepPart(-1),
    Tab: () => stepPart(ev.shiftKey ? -1 : 1),
    Delete: deletePoint, Backspace: deletePoint,
    o: toggleOccluded, u: undo, a: () => acceptSuggestions(null), f: fit,
    i: () => selectIndividual((state.ind + 1) % state.project.individuals.length),
  };
  if (actions[key]) { ev.preventDefault(); actions[key](); }
});

window.addEventListener("keyup", (ev) => { if (ev.key === " ") state.space = false; });

function deletePoint() {
  if (!state.frame.points[state.ind][state.kp]) return;
  change((f) => { f.points[state.ind][state.kp] = null; f.occluded[state.ind][state.kp] = false; });
}

function toggleOccluded() {
  change((f) => { f.occluded[state.ind][state.kp] = !f.occluded[state.ind][state.kp]; });
}

function selectIndividual(i) {
  state.ind = i;
  $("individual").value = i;
  if (!state.project.valid[i][state.kp]) state.kp = validParts()[0];
  renderParts();
  draw();
}

$("individual").addEventListener("change", (ev) => { selectIndividual(Number(ev.target.value)); ev.target.blur(); });
$("prev-frame").onclick = () => stepFrame(-1);
$("next-frame").onclick = () => stepFrame(1);
$("fit").onclick = fit;
$("accept-all").onclick = () => acceptSuggestions(null);
$("help-button").onclick = () => toggleHelp();
$("help").onclick = () => toggleHelp(false);
window.addEventListener("resize", () => { resize(); draw(); });
window.addEventListener("beforeunload", (ev) => { if (state.pending > 0) ev.preventDefault(); });

resize();
loadProject().catch((err) => setStatus("error", err.message));
