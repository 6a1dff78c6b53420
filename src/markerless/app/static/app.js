// markerless labelling page: plain JavaScript, no build step.
// Every edit is sent at once (PUT of the whole frame with the version it was based on), one request at a
// time. A 409 answer means another tab or process changed the frame first: the page says so (the message
// stays in the log), drops its queued edits of that frame and reloads it, keeping the selection. A save
// that fails for any other reason than a refusal is retried until it succeeds; the tab warns before
// closing while an edit is not on disk. Frame loads are numbered: only the newest one is shown.
"use strict";

const params = new URLSearchParams(location.search);
if (params.get("token")) {
  sessionStorage.setItem("markerless_token", params.get("token"));
  history.replaceState(null, "", location.pathname + location.hash);
}
let TOKEN = sessionStorage.getItem("markerless_token") || "";

const $ = (id) => document.getElementById(id);
const canvas = $("canvas");
const ctx = canvas.getContext("2d");
const state = {
  project: null, video: null, frames: [], frame: null, image: null, current: null,
  ind: 0, kp: 0, view: { scale: 1, ox: 0, oy: 0 }, undo: [],
  drag: null, space: false, saving: Promise.resolve(), pending: 0, generation: 0,
  loadSeq: 0, loading: false, log: [], timing: { display: [], save: [] },
};
const HIT = 9; // px: how close a press must be to grab a point (the nearest one is grabbed)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function api(method, path, body) {
  const opts = { method, headers: { "X-Markerless-Token": TOKEN } };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, opts);
  } catch (err) {
    const e = new Error("the server cannot be reached");
    e.status = 0;
    throw e;
  }
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const err = new Error(data.detail || res.statusText);
    err.status = res.status;
    throw err;
  }
  return data;
}

function timed(what, started) {
  // the last 50 frame displays and saves in milliseconds (read by the tests)
  const list = state.timing[what];
  list.push(performance.now() - started);
  if (list.length > 50) list.shift();
}

function setStatus(kind, text) {
  const el = $("status");
  el.dataset.state = kind;
  el.textContent = text;
}

function record(text) {
  // messages stay listed (with their time) until the page is closed
  state.log.push(text);
  const li = document.createElement("li");
  li.textContent = `${new Date().toLocaleTimeString()} ${text}`;
  $("log").prepend(li);
  $("log-panel").hidden = false;
}

function showBanner(text) {
  $("conflict-text").textContent = text;
  $("conflict").hidden = false;
  record(text);
}

function multi() {
  return state.project.individuals.length > 1;
}

function colour(i, k, alpha = 1) {
  // multi-animal: one colour per individual; single animal: one per body part
  const n = multi() ? state.project.individuals.length : state.project.keypoints.length;
  const j = multi() ? i : k;
  const hue = Math.round((300 * j) / Math.max(1, n - 1));
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
  $("individual-picker").hidden = !multi();
  $("individuals-panel").hidden = !multi();
  renderVideos();
  renderNotices();
  const [hv, hf] = location.hash.slice(1).split("/").map((s) => decodeURIComponent(s || ""));
  const usable = p.videos.filter((v) => !v.error && v.n_frames > 0);
  const video = usable.find((v) => v.name === hv) ? hv : (usable[0] || p.videos[0] || {}).name;
  if (video) await openVideo(video, hf);
}

function renderNotices() {
  const notes = [];
  for (const v of state.project.videos) {
    if (v.error) notes.push(`${v.name}: ${v.error}`);
    for (const n of v.notices || []) notes.push(n);
  }
  const ul = $("notices");
  ul.innerHTML = "";
  for (const n of notes) {
    const li = document.createElement("li");
    li.textContent = n;
    ul.appendChild(li);
  }
  ul.hidden = notes.length === 0;
}

function renderVideos() {
  const ul = $("videos");
  ul.innerHTML = "";
  for (const v of state.project.videos) {
    const li = document.createElement("li");
    li.className = [v.name === state.video ? "current" : "", v.error ? "broken" : "",
      v.n_frames && v.n_labelled === v.n_frames ? "done" : ""].join(" ");
    li.innerHTML = `<span></span><span class="count"></span>`;
    li.firstChild.textContent = v.name;
    li.lastChild.textContent = v.error ? "!" : `${v.n_labelled}/${v.n_frames}`;
    li.title = v.error || (`${v.n_labelled} of ${v.n_frames} frames complete, ${v.n_started} with a point` +
      (v.n_suggested ? `, ${v.n_suggested} with suggestions` : ""));
    if (!v.error) li.onclick = () => openVideo(v.name);
    ul.appendChild(li);
  }
}

async function refreshLists() {
  const p = await api("GET", "/api/project");
  state.project.videos = p.videos;
  renderVideos();
  renderNotices();
  if (!state.video) return;
  state.frames = await api("GET", `/api/videos/${encodeURIComponent(state.video)}/frames`);
  renderFrames();
}

async function openVideo(name, frameName) {
  await state.saving;
  state.video = name;
  try {
    state.frames = await api("GET", `/api/videos/${encodeURIComponent(name)}/frames`);
  } catch (err) {
    setStatus("error", `cannot open ${name}: ${err.message}`);
    state.frames = [];
  }
  renderVideos();
  renderFrames();
  const target = state.frames.find((f) => f.name === frameName) || state.frames[0];
  if (target) await openFrame(target.name);
}

function renderFrames() {
  const ul = $("frames");
  ul.innerHTML = "";
  const total = state.project.valid.flat().filter(Boolean).length;
  let done = 0;
  for (const f of state.frames) {
    if (f.done) done++;
    const li = document.createElement("li");
    li.dataset.name = f.name;
    li.className = [f.done ? "done" : "", f.suggested ? "suggested" : "",
      f.name === state.current ? "current" : ""].join(" ");
    li.innerHTML = `<span></span><span class="count"></span>`;
    li.firstChild.textContent = f.name;
    li.lastChild.textContent = `${f.n_points}/${total}`;
    li.onclick = () => openFrame(f.name);
    ul.appendChild(li);
  }
  $("frame-progress").textContent = `${done}/${state.frames.length}`;
  const cur = ul.querySelector("li.current");
  if (cur) cur.scrollIntoView({ block: "nearest" });
}

async function openFrame(name, keepSelection = false) {
  const seq = ++state.loadSeq;
  const started = performance.now();
  state.loading = true;
  state.current = name;
  await state.saving; // the frame being left is saved first
  if (seq !== state.loadSeq) return;
  const video = state.video;
  const path = `${encodeURIComponent(video)}/${encodeURIComponent(name)}`;
  let frame;
  const img = new Image();
  img.src = `/api/image/${path}`;
  try {
    [frame] = await Promise.all([api("GET", `/api/videos/${encodeURIComponent(video)}/frames/${encodeURIComponent(name)}`), img.decode()]);
  } catch (err) {
    if (seq !== state.loadSeq) return;
    state.loading = false;
    setStatus("error", `cannot show ${name}: ${err.message || "the image cannot be read"}`);
    return;
  }
  if (seq !== state.loadSeq) return; // a newer load started meanwhile: it wins
  const sameSize = state.image && state.image.naturalWidth === img.naturalWidth && state.image.naturalHeight === img.naturalHeight;
  const sameFrame = state.frame && state.frame.name === name && state.frame.video === video;
  state.frame = frame;
  state.image = img;
  state.undo = [];
  state.loading = false;
  history.replaceState(null, "", `#${path}`);
  $("frame-title").textContent = `${video} / ${name}`;
  if (!sameSize) fit();
  if (!(keepSelection && sameFrame)) selectFirstMissing();
  renderFrames();
  renderParts();
  draw();
  timed("display", started);
}

function reloadAfterConflict(message) {
  showBanner(message);
  if (state.frame) openFrame(state.frame.name, true);
}

// --- saving ------------------------------------------------------------------------------------
function snapshot() {
  const f = state.frame;
  return { name: f.name, video: f.video, points: JSON.parse(JSON.stringify(f.points)), occluded: JSON.parse(JSON.stringify(f.occluded)) };
}

function editable() {
  return state.frame && !state.loading && state.frame.name === state.current;
}

function change(mutate) {
  if (!editable()) return;
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
    try {
      for (let attempt = 0; generation === state.generation; attempt++) {
        const started = performance.now();
        try {
          const saved = await send(frame);
          timed("save", started);
          frame.version = saved.version;
          if (adopt) {
            // take what the server filled in (accepted suggestions), keep edits made meanwhile
            saved.points.forEach((row, i) => row.forEach((p, k) => { if (p && !frame.points[i][k]) frame.points[i][k] = p; }));
          }
          return;
        } catch (err) {
          if (err.status === 409 || err.status === 400 || err.status === 404) {
            // refused: queued edits of this frame are dropped and the frame shows what is on disk
            state.generation++;
            setStatus("conflict", err.status === 409 ? "conflict: frame reloaded" : "refused: frame reloaded");
            reloadAfterConflict(`Not saved: ${err.message}`);
            return;
          }
          // the server is unreachable or failing: keep the edit and try again
          if (err.status === 401 || err.status === 403) $("token-form").hidden = false; // restarted: new token
          setStatus("error", `not saved (${err.message}): retrying…`);
          await sleep(Math.min(4000, 200 * 2 ** attempt));
        }
      }
    } finally {
      state.pending--;
      if (state.pending === 0 && ["saving", "error"].includes($("status").dataset.state)) setStatus("idle", "all changes saved");
      if (state.pending === 0) refreshLists().catch(() => {});
    }
  });
  return state.saving;
}

function undo() {
  if (!editable()) return;
  const last = state.undo.pop();
  if (!last || last.name !== state.frame.name) return;
  state.frame.points = last.points;
  state.frame.occluded = last.occluded;
  afterEdit();
}

function acceptSuggestions(cells) {
  if (!editable() || !state.frame.suggestions) return;
  state.undo.push(snapshot());
  queueSave(state.frame, (f) => api("POST", `${framePath(f)}/accept`, { version: f.version, cells }), true)
    .then(() => { if (!state.loading) { renderParts(); draw(); } });
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

function onImage(x, y) {
  const img = state.image;
  return x >= -0.5 && y >= -0.5 && x <= img.naturalWidth - 0.5 && y <= img.naturalHeight - 0.5;
}

function clampToImage(x, y) {
  const img = state.image;
  return [Math.min(Math.max(x, -0.5), img.naturalWidth - 0.5), Math.min(Math.max(y, -0.5), img.naturalHeight - 0.5)];
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
  // the nearest ground-truth point within HIT; failing that, the nearest suggestion not yet labelled
  const f = state.frame;
  let best = null;
  const consider = (kind, i, k, x, y) => {
    const [px, py] = toCanvas(x, y);
    const d = Math.hypot(px - cx, py - cy);
    if (d <= HIT && (!best || d < best.d)) best = { kind, i, k, d };
  };
  f.points.forEach((row, i) => row.forEach((p, k) => { if (p) consider("point", i, k, p[0], p[1]); }));
  if (best || !f.suggestions) return best;
  f.suggestions.forEach((row, i) => row.forEach((s, k) => {
    if (s && !f.points[i][k] && state.project.valid[i][k]) consider("suggestion", i, k, s[0], s[1]);
  }));
  return best;
}

// --- drawing -----------------------------------------------------------------------------------
function markerRadius() {
  // the config's dotsize is a diameter in image pixels: markers shrink with the image when zoomed out
  // (small animals stay visible), never below 5 or above 12 screen pixels across
  return Math.min(6, Math.max(2.5, (state.project.dotsize / 2) * state.view.scale));
}

function draw() {
  const w = canvas.clientWidth, h = canvas.clientHeight;
  ctx.clearRect(0, 0, w, h);
  if (!state.image || !state.frame) return;
  const v = state.view;
  ctx.imageSmoothingEnabled = v.scale < 2;
  ctx.drawImage(state.image, v.ox, v.oy, state.image.naturalWidth * v.scale, state.image.naturalHeight * v.scale);
  const f = state.frame;
  const r = markerRadius();
  ctx.font = "12px system-ui";
  f.points.forEach((row, i) => {
    const alpha = i === state.ind ? 1 : 0.6;
    ctx.lineWidth = 2;
    for (const [a, b] of state.project.edges) {
      const pa = row[a], pb = row[b];
      if (!pa || !pb) continue;
      ctx.strokeStyle = multi() ? colour(i, 0, 0.7 * alpha) : `rgba(255,255,255,${0.7 * alpha})`;
      ctx.beginPath();
      ctx.moveTo(...toCanvas(pa[0], pa[1]));
      ctx.lineTo(...toCanvas(pb[0], pb[1]));
      ctx.stroke();
    }
    if (f.suggestions) {
      f.suggestions[i].forEach((s, k) => {
        if (!s || row[k] || !state.project.valid[i][k]) return;
        const [cx, cy] = toCanvas(s[0], s[1]);
        ctx.setLineDash([3, 3]);
        ctx.strokeStyle = colour(i, k, alpha);
        ctx.lineWidth = 2;
        ctx.beginPath();
        ctx.arc(cx, cy, r + 2, 0, 2 * Math.PI);
        ctx.stroke();
        ctx.setLineDash([]);
        label(`${state.project.keypoints[k]} ${s[2].toFixed(2)}`, cx + r + 5, cy - r, alpha);
      });
    }
    row.forEach((p, k) => {
      if (!p) return;
      const [cx, cy] = toCanvas(p[0], p[1]);
      const hidden = f.occluded[i][k];
      const selected = i === state.ind && k === state.kp;
      ctx.beginPath();
      ctx.arc(cx, cy, r, 0, 2 * Math.PI);
      ctx.fillStyle = colour(i, k, hidden ? 0.25 : alpha);
      ctx.fill();
      ctx.lineWidth = selected ? 3 : 1.5;
      ctx.strokeStyle = selected ? "#fff" : "rgba(0,0,0,0.7)";
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
    if (multi()) {
      // the individual's name beside its top-most point
      const placed = row.filter(Boolean);
      if (placed.length) {
        const top = placed.reduce((a, b) => (b[1] < a[1] ? b : a));
        const [cx, cy] = toCanvas(top[0], top[1]);
        label(state.project.individuals[i], cx + r + 3, cy - r - 3, alpha);
      }
    }
  });
}

function label(text, x, y, alpha) {
  ctx.lineWidth = 3;
  ctx.strokeStyle = `rgba(0,0,0,${0.8 * alpha})`;
  ctx.strokeText(text, x, y);
  ctx.fillStyle = `rgba(255,255,255,${alpha})`;
  ctx.fillText(text, x, y);
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
    let text = "—";
    if (p) text = f.occluded[state.ind][k] ? "hidden" : "✓";
    else if (s) text = `suggested ${s[2].toFixed(2)}`;
    li.innerHTML = `<span><span class="swatch"></span><span class="name"></span></span><span class="state"></span>`;
    li.querySelector(".swatch").style.background = colour(state.ind, k);
    li.querySelector(".name").textContent = `${k + 1}. ${name}`;
    li.querySelector(".state").textContent = text;
    li.onclick = () => { state.kp = k; renderParts(); draw(); };
    ol.appendChild(li);
  });
  const pending = f.suggestions && f.suggestions.some((row, i) => row.some((s, k) => s && !f.points[i][k] && state.project.valid[i][k]));
  $("accept-all").hidden = !pending;
  renderIndividuals();
}

function renderIndividuals() {
  // which animals of this frame are labelled: points placed / body parts, per individual
  const ul = $("individuals");
  ul.innerHTML = "";
  if (!multi() || !state.frame) return;
  state.project.individuals.forEach((name, i) => {
    const n = state.project.valid[i].filter(Boolean).length;
    const got = state.frame.points[i].filter((p, k) => p && state.project.valid[i][k]).length;
    const li = document.createElement("li");
    li.dataset.ind = i;
    li.className = [i === state.ind ? "current" : "", got === n ? "done" : "", got === 0 ? "empty" : ""].join(" ");
    li.innerHTML = `<span><span class="swatch"></span><span class="name"></span></span><span class="count"></span>`;
    li.querySelector(".swatch").style.background = colour(i, 0);
    li.querySelector(".name").textContent = name;
    li.querySelector(".count").textContent = `${got}/${n}`;
    li.onclick = () => selectIndividual(i);
    ul.appendChild(li);
  });
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

function selectFirstMissing() {
  const parts = validParts();
  const missing = parts.find((k) => !state.frame.points[state.ind][k]);
  if (missing !== undefined) state.kp = missing;
  else if (!parts.includes(state.kp)) state.kp = parts[0];
}

function advanceAfterPlacing() {
  // the next body part still missing after the one placed, wrapping around to the start of the list
  const parts = validParts();
  const pos = parts.indexOf(state.kp);
  const order = [...parts.slice(pos + 1), ...parts.slice(0, pos)];
  const next = order.find((k) => !state.frame.points[state.ind][k]);
  if (next !== undefined) state.kp = next;
}

function stepFrame(delta) {
  const i = state.frames.findIndex((f) => f.name === state.current);
  const next = state.frames[i + delta];
  if (next) openFrame(next.name);
}

// --- mouse -------------------------------------------------------------------------------------
canvas.addEventListener("mousedown", (ev) => {
  if (!editable()) return;
  const [cx, cy] = eventPos(ev);
  const hit = state.space ? null : hitPoint(cx, cy);
  state.drag = { hit, start: [cx, cy], last: [cx, cy], moved: false, before: snapshot(), frame: state.frame };
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
  if (d.frame !== state.frame) { state.drag = null; return; } // the frame was reloaded under the pointer
  const [cx, cy] = eventPos(ev);
  if (Math.hypot(cx - d.start[0], cy - d.start[1]) > 3) d.moved = true;
  if (d.hit && d.moved) {
    state.frame.points[d.hit.i][d.hit.k] = clampToImage(...toImage(cx, cy));
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
  if (!d || d.frame !== state.frame || !editable()) return;
  if (d.hit && d.moved) {
    state.frame.points[d.hit.i][d.hit.k] = clampToImage(...toImage(...eventPos(ev)));
    state.undo.push(d.before);
    afterEdit();
  } else if (d.hit && d.hit.kind === "suggestion") {
    acceptSuggestions([[d.hit.i, d.hit.k]]);
  } else if (!d.hit && !d.moved && !state.space && ev.target === canvas) {
    const [x, y] = toImage(...eventPos(ev));
    if (!onImage(x, y)) return;
    const ind = state.ind, kp = state.kp;
    change((f) => { f.points[ind][kp] = [x, y]; f.occluded[ind][kp] = false; });
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
  if (ev.target.tagName === "INPUT") return;
  if (ev.target.tagName === "SELECT") {
    // the individual picker keeps ↑/↓ for itself; every other shortcut acts on the page
    if (ev.key === "ArrowUp" || ev.key === "ArrowDown" || ev.key === "Enter" || ev.key === " ") return;
    ev.target.blur();
  }
  if (ev.key === "?") { toggleHelp(); return; }
  if (ev.key === "Escape") { toggleHelp(false); $("conflict").hidden = true; return; }
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
}, true);

window.addEventListener("keyup", (ev) => { if (ev.key === " ") state.space = false; });

function deletePoint() {
  if (!editable() || !state.frame.points[state.ind][state.kp]) return;
  const ind = state.ind, kp = state.kp;
  change((f) => { f.points[ind][kp] = null; f.occluded[ind][kp] = false; });
}

function toggleOccluded() {
  if (!editable()) return;
  const ind = state.ind, kp = state.kp;
  if (!state.frame.points[ind][kp]) {
    setStatus("idle", "place the point first: an occluded point needs a best guess of its position");
    return;
  }
  change((f) => { f.occluded[ind][kp] = !f.occluded[ind][kp]; });
}

function selectIndividual(i) {
  state.ind = i;
  $("individual").value = i;
  if (state.frame) selectFirstMissing();
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
$("conflict-close").onclick = () => { $("conflict").hidden = true; };
$("token-form").onsubmit = (ev) => {
  // the URL a restarted server printed: its token lets this tab save what is still pending
  ev.preventDefault();
  const text = $("token-input").value.trim();
  let token = text;
  try { token = new URL(text).searchParams.get("token") || text; } catch (err) { /* a bare token */ }
  TOKEN = token;
  sessionStorage.setItem("markerless_token", token);
  $("token-form").hidden = true;
};
window.addEventListener("resize", () => { resize(); draw(); });
window.addEventListener("beforeunload", (ev) => {
  if (state.pending > 0) { ev.preventDefault(); ev.returnValue = "Changes are not saved yet."; }
});

resize();
loadProject().catch((err) => setStatus("error", err.message));
