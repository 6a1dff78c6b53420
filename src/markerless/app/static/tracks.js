// markerless track view: one lane per animal over the analysed video, suspicious frames marked, and
// identity swaps ("from this frame on", "from the start mark to the end mark"), undo and redo, each
// applied at once to the prediction file by the server. Loaded before app.js, whose helpers ($, api,
// setStatus, record, TOKEN) it uses once the page has loaded; its key handler runs first and keeps
// the keys while the track view is open.
"use strict";

const tracks = {
  open: false, files: [], file: null, lanes: null, row: 0, mark: null, markEnd: null, seq: 0, busy: false,
};
const LANE = 30; // px per animal lane
const LEFT = 90; // px for the animals' names

function tracksEl(id) { return document.getElementById(id); }

async function initTracks() {
  try {
    tracks.files = await api("GET", "/api/tracks");
  } catch (err) {
    return; // an older server or no access yet: the labelling view works without the track view
  }
  if (!tracks.files.length) return;
  tracksEl("tracks-button").hidden = false;
  const sel = tracksEl("track-file");
  tracks.files.forEach((f) => sel.add(new Option(`${f.video} · ${f.name}`, f.name)));
}

async function openTracks(show = true) {
  tracks.open = show;
  document.body.classList.toggle("tracks", show);
  tracksEl("tracks-view").hidden = !show;
  if (show && !tracks.lanes) await loadLanes(tracksEl("track-file").value);
  if (show) drawLanes();
}

async function loadLanes(name) {
  tracks.file = name;
  showLanes(await api("GET", `/api/tracks/${encodeURIComponent(name)}`));
  tracks.mark = tracks.markEnd = null;
  setRow(0);
}

function showLanes(lanes) {
  tracks.lanes = lanes;
  const [a, b] = [tracksEl("swap-a"), tracksEl("swap-b")];
  if (a.options.length !== lanes.individuals.length) {
    a.innerHTML = b.innerHTML = "";
    lanes.individuals.forEach((name) => { a.add(new Option(name, name)); b.add(new Option(name, name)); });
    b.selectedIndex = Math.min(1, lanes.individuals.length - 1);
  }
  tracksEl("slider").max = lanes.frames.length - 1;
  tracksEl("track-undo").disabled = !lanes.applied.length;
  tracksEl("track-redo").disabled = !lanes.undone.length;
  const range = (s) => (s.stop === null ? `from ${s.start} on` : `frames ${s.start}–${s.stop - 1}`);
  tracksEl("track-history").textContent = lanes.applied.length
    ? `Swaps applied (oldest first): ${lanes.applied.map((s) => `${s.a} ⇄ ${s.b} ${range(s)}`).join("; ")}.`
    : "No swaps applied to this file.";
  const notice = tracksEl("track-notice");
  notice.hidden = !lanes.stale.length;
  notice.textContent = lanes.stale.length
    ? `${lanes.stale.join(", ")} predates the swaps and is stale: run markerless filter again.` : "";
  renderMarks();
  drawLanes();
}

function frameOf(row) { return tracks.lanes.frames[row]; }

function setRow(row) {
  const n = tracks.lanes.frames.length;
  tracks.row = Math.max(0, Math.min(n - 1, row));
  tracksEl("slider").value = tracks.row;
  tracksEl("track-frame").textContent = `frame ${frameOf(tracks.row)} / ${frameOf(n - 1)}`;
  drawLanes();
  loadTrackImage();
}

async function loadTrackImage() {
  const seq = ++tracks.seq;
  const frame = frameOf(tracks.row);
  try {
    const res = await fetch(`/api/tracks/${encodeURIComponent(tracks.file)}/frames/${frame}`,
      { headers: { "X-Markerless-Token": TOKEN } });
    if (!res.ok) throw new Error((await res.json().catch(() => ({}))).detail || res.statusText);
    const url = URL.createObjectURL(await res.blob());
    if (seq !== tracks.seq) { URL.revokeObjectURL(url); return; }
    const img = tracksEl("track-image");
    if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
    img.src = url;
    img.dataset.frame = frame;
  } catch (err) {
    if (seq === tracks.seq) setStatus("error", `frame ${frame}: ${err.message}`);
  }
}

function suspiciousRows() {
  // the frames to visit: each event's peak (closest approach or jump), as rows, sorted and unique
  const index = new Map(tracks.lanes.frames.map((f, i) => [f, i]));
  const rows = tracks.lanes.events.map((e) => index.get(e.peak)).filter((r) => r !== undefined);
  return [...new Set(rows)].sort((x, y) => x - y);
}

function stepSuspicious(delta) {
  const rows = suspiciousRows();
  const next = delta > 0 ? rows.find((r) => r > tracks.row) : rows.reverse().find((r) => r < tracks.row);
  if (next === undefined) { setStatus("idle", `no suspicious frame ${delta > 0 ? "after" : "before"} this one`); return; }
  const event = tracks.lanes.events.find((e) => e.peak === frameOf(next));
  if (event && event.individuals.length === 2) {
    tracksEl("swap-a").value = event.individuals[0];
    tracksEl("swap-b").value = event.individuals[1];
  }
  setRow(next);
}

function renderMarks() {
  const marks = [tracks.mark, tracks.markEnd].map((r) => (r === null ? "–" : frameOf(r)));
  tracksEl("marks").textContent = `start ${marks[0]} · end ${marks[1]}`;
  tracksEl("swap-range").disabled = tracks.mark === null || tracks.markEnd === null;
}

async function trackAction(path, body, done) {
  if (tracks.busy) return;
  tracks.busy = true;
  setStatus("saving", "writing the prediction file…");
  try {
    showLanes(await api("POST", `/api/tracks/${encodeURIComponent(tracks.file)}/${path}`, body));
    setStatus("idle", done);
    record(`${tracks.file}: ${done}`);
    loadTrackImage();
  } catch (err) {
    setStatus("error", err.message);
    record(err.message);
  } finally {
    tracks.busy = false;
  }
}

function swap(range) {
  const a = tracksEl("swap-a").value, b = tracksEl("swap-b").value;
  if (a === b) { setStatus("error", "choose two different animals to swap"); return; }
  let start = frameOf(tracks.row), stop = null;
  if (range) {
    const [r0, r1] = [tracks.mark, tracks.markEnd].sort((x, y) => x - y);
    start = frameOf(r0);
    stop = frameOf(r1) + 1;
  }
  const what = stop === null ? `from frame ${start} on` : `in frames ${start}–${stop - 1}`;
  trackAction("swap", { a, b, start, stop }, `swapped ${a} ⇄ ${b} ${what}`);
}

function drawLanes() {
  const cv = tracksEl("lanes");
  const lanes = tracks.lanes;
  if (!tracks.open || !lanes) return;
  const n = lanes.individuals.length, frames = lanes.frames.length;
  const w = cv.clientWidth, h = n * LANE + 8;
  cv.style.height = `${h}px`;
  const dpr = window.devicePixelRatio || 1;
  cv.width = Math.round(w * dpr);
  cv.height = Math.round(h * dpr);
  const g = cv.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  const span = w - LEFT - 4;
  const xOf = (row) => LEFT + (row / Math.max(1, frames - 1)) * span;
  const step = Math.max(1, span / Math.max(1, frames));
  const xs = lanes.x.flat().filter((v) => v !== null);
  const lo = Math.min(...xs), hi = Math.max(...xs);
  const index = new Map(lanes.frames.map((f, i) => [f, i]));
  lanes.individuals.forEach((name, i) => {
    const top = 4 + i * LANE;
    g.fillStyle = "#f3f5f7";
    g.fillRect(LEFT, top, span + step, LANE - 4);
    g.fillStyle = lanes.colors[i];
    g.fillRect(4, top + LANE / 2 - 8, 10, 10);
    g.fillStyle = "#1d232b";
    g.font = "12px system-ui, sans-serif";
    g.textBaseline = "middle";
    g.fillText(name, 18, top + LANE / 2 - 2, LEFT - 22);
    g.fillStyle = lanes.colors[i];
    g.globalAlpha = 0.35;
    const bar = Math.ceil(step) + 1; // neighbouring frames' bars overlap: no seams
    g.beginPath(); // one path: overlapping bars are painted once
    lanes.visible[i].forEach((v, r) => { if (v > 0) g.rect(xOf(r), top + (LANE - 4) * (1 - v / 100), bar, (LANE - 4) * v / 100); });
    g.fill();
    g.globalAlpha = 1;
    g.strokeStyle = lanes.colors[i];
    g.lineWidth = 1.5;
    g.beginPath();
    let pen = false;
    lanes.x[i].forEach((x, r) => {
      if (x === null) { pen = false; return; }
      const y = top + 3 + ((x - lo) / Math.max(1, hi - lo)) * (LANE - 10);
      if (pen) g.lineTo(xOf(r), y); else g.moveTo(xOf(r), y);
      pen = true;
    });
    g.stroke();
  });
  for (const e of lanes.events) {
    const r0 = index.get(e.start), r1 = index.get(e.stop - 1);
    if (r0 === undefined || r1 === undefined) continue;
    g.fillStyle = e.kind === "close" ? "rgba(217,130,20,0.55)" : "rgba(179,38,30,0.8)";
    for (const name of e.individuals) {
      const i = lanes.individuals.indexOf(name);
      g.fillRect(xOf(r0) - 1, 4 + i * LANE + LANE - 9, Math.max(3, xOf(r1) - xOf(r0) + step), 5);
    }
  }
  if (tracks.mark !== null) {
    const [r0, r1] = [tracks.mark, tracks.markEnd ?? tracks.mark].sort((x, y) => x - y);
    g.fillStyle = "rgba(40,100,200,0.18)";
    g.fillRect(xOf(r0), 0, xOf(r1) - xOf(r0) + step, h);
  }
  g.fillStyle = "#1d232b";
  g.fillRect(xOf(tracks.row) - 0.5, 0, 2, h);
}

function onTrackKey(ev) {
  if (!tracks.open || ev.key === "?") return;
  ev.stopImmediatePropagation(); // the labelling view's shortcuts stay off while the tracks are shown
  const tag = ev.target.tagName;
  if (tag === "SELECT" || (tag === "INPUT" && ev.target.type !== "range")) return;
  const key = ev.key.length === 1 ? ev.key.toLowerCase() : ev.key;
  const actions = {
    ArrowRight: () => setRow(tracks.row + 1), ArrowLeft: () => setRow(tracks.row - 1),
    "]": () => stepSuspicious(1), "[": () => stepSuspicious(-1),
    u: () => tracksEl("track-undo").click(), Escape: () => openTracks(false),
  };
  if ((ev.ctrlKey || ev.metaKey) && key === "z") actions.z = actions.u;
  if (actions[key]) { ev.preventDefault(); actions[key](); }
}

window.addEventListener("keydown", onTrackKey, true);
window.addEventListener("load", () => {
  tracksEl("tracks-button").onclick = () => openTracks(!tracks.open);
  tracksEl("tracks-close").onclick = () => openTracks(false);
  tracksEl("track-file").onchange = (ev) => loadLanes(ev.target.value).catch((err) => setStatus("error", err.message));
  tracksEl("slider").oninput = (ev) => setRow(Number(ev.target.value));
  tracksEl("next-suspicious").onclick = () => stepSuspicious(1);
  tracksEl("prev-suspicious").onclick = () => stepSuspicious(-1);
  tracksEl("swap-from").onclick = () => swap(false);
  tracksEl("swap-range").onclick = () => swap(true);
  tracksEl("mark-start").onclick = () => { tracks.mark = tracks.row; renderMarks(); drawLanes(); };
  tracksEl("mark-end").onclick = () => { tracks.markEnd = tracks.row; if (tracks.mark === null) tracks.mark = tracks.row; renderMarks(); drawLanes(); };
  tracksEl("track-undo").onclick = () => trackAction("undo", undefined, "undid the last swap");
  tracksEl("track-redo").onclick = () => trackAction("redo", undefined, "applied the undone swap again");
  tracksEl("lanes").addEventListener("mousedown", (ev) => {
    if (!tracks.lanes) return;
    const box = tracksEl("lanes").getBoundingClientRect();
    const span = box.width - LEFT - 4;
    setRow(Math.round(((ev.clientX - box.left - LEFT) / span) * (tracks.lanes.frames.length - 1)));
  });
  window.addEventListener("resize", drawLanes);
  initTracks();
});
