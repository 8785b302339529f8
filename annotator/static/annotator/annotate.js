// The annotation page: fetches a task from the worker API, shows it, collects
// the answer and sends it reliably. A draft of the answer is kept in
// localStorage while the worker works, so a reload loses nothing either.
//
// No blank wait between tasks: the page asks for the task after the current
// one too (?include=ahead) and loads its photo while the worker answers; once
// the answer is stored, that task is shown at once and the next one is asked
// for in the background. When nothing was fetched ahead, or its photo failed
// to load, the page falls back to asking then (with a visible retry).
//
// Expiry is visible: a timer, a warning before the deadline, and the worker's
// activity extends the task (the server keeps it within its ceiling).

import { BoxEditor } from "./box-editor.js";
import { EmotionForm } from "./emotion-form.js";
import { RefusedError, UnsentError, newSubmissionId, postReliably, unsentRequests } from "./reliable-post.js";

const root = document.getElementById("annotator");
const $ = (id) => document.getElementById(id);
const csrfToken = root.dataset.csrfToken;
const DRAFT_PREFIX = "emotic.draft.";

const ui = {
  title: $("task-title"),
  banner: $("qualification-banner"),
  status: $("status"),
  statusText: $("status-text"),
  resend: $("resend-button"),
  problems: $("problems"),
  empty: $("empty"),
  emptyHeading: $("empty-heading"),
  emptyText: $("empty-text"),
  waiting: $("waiting"),
  countdown: $("retry-countdown"),
  checkAgain: $("check-again"),
  workspace: $("workspace"),
  image: $("task-image"),
  caption: $("stage-caption"),
  fullSize: $("full-size-link"),
  boxesForm: $("boxes-form"),
  boxList: $("box-list"),
  noPeople: $("no-people"),
  emotionsForm: $("emotions-form"),
  submit: $("submit-button"),
  skip: $("skip-button"),
  report: $("report-button"),
  reportDialog: $("report-dialog"),
  reportForm: $("report-form"),
  reportDetails: $("report-details"),
  reportProblem: $("report-problem"),
  keyMap: $("key-map"),
  keysToggle: $("keys-toggle"),
  timer: $("task-timer"),
  timeLeft: $("time-left"),
  expiryWarning: $("expiry-warning"),
  expiryText: $("expiry-text"),
  extendButton: $("extend-button"),
  imageProblem: $("image-problem"),
  imageRetry: $("image-retry"),
  announcement: $("qualification-result"),
  announcementHeading: $("qualification-result-heading"),
  announcementText: $("qualification-result-text"),
  announcementList: $("qualification-result-items"),
  startWork: $("start-work"),
};

let task = null;
let following = null; // the task handed out ahead of this one: { task, image: Promise<boolean> }
let submissionId = null;
let startedAt = 0;
let busy = false;
let retryTimer = null; // counting down to the next automatic request for a task

// The texts of the empty section. The API answers 204 with Work-Outlook: later (ask again after
// Retry-After seconds) or done (nothing is left for this worker: the page stops asking).
const EMPTY = {
  default: {
    heading: "No task for you right now",
    text: "Every person currently available has all the annotators it needs. New images arrive often.",
  },
  later: {
    heading: "No task for you right now",
    text: "What you could do next is being worked on by others or still being prepared. " +
      "Their tasks may come back to the pool: this page asks again by itself.",
  },
  done: {
    heading: "Nothing left for you",
    text: "You have done everything there is for you: every person you may annotate has all the answers it " +
      "needs or already has yours. New photos are added from time to time; come back later.",
  },
};
const DEFAULT_RETRY_SECONDS = 30;
const MAX_RETRY_SECONDS = 300;
let emptyAnswers = 0; // "later" answers in a row: the wait grows (doubling, at most MAX_RETRY_SECONDS)
const TIMEOUT_SECONDS = Number(root.dataset.timeoutSeconds || 1200);
const WARNING_SECONDS = Number(root.dataset.warningSeconds || 120);
const EXTEND_EVERY_MS = 30 * 1000; // activity extends the task at most this often

const boxes = new BoxEditor($("overlay"), {
  onChange: ({ selectionOnly }) => boxesChanged(selectionOnly),
  minBoxFraction: Number(root.dataset.minBoxFraction || 0),
  minBoxPixels: Number(root.dataset.minBoxPixels || 1),
});
const emotions = new EmotionForm(ui.emotionsForm, { onChange: saveDraft });

// --- messages ---------------------------------------------------------------------
function showStatus(text, { resend = false } = {}) {
  ui.statusText.textContent = text;
  ui.resend.hidden = !resend;
  ui.status.hidden = !text;
}

function showProblems(problems) {
  ui.problems.replaceChildren();
  if (!problems.length) {
    ui.problems.hidden = true;
    return;
  }
  const list = document.createElement("ul");
  for (const problem of problems) {
    const item = document.createElement("li");
    item.textContent = problem.message;
    list.append(item);
  }
  ui.problems.append(list);
  ui.problems.hidden = false;
  problems[0].element?.focus();
}

function updateCounter({ submitted_today: today, submitted_total: total }) {
  if (today !== undefined) $("count-today").textContent = today;
  if (total !== undefined) $("count-total").textContent = total;
}

// --- drafts -----------------------------------------------------------------------
function currentAnswer() {
  if (!task) return null;
  if (task.kind === "boxes") return { boxes: boxes.answer(), no_people: ui.noPeople.checked };
  return emotions.answer();
}

function saveDraft() {
  if (!task) return;
  const draft = { submissionId, answer: currentAnswer(), savedAt: Date.now() };
  localStorage.setItem(DRAFT_PREFIX + task.id, JSON.stringify(draft));
}

// Drafts of tasks that were never finished here (expired, done elsewhere) are dropped after two days.
function pruneDrafts() {
  const limit = Date.now() - 2 * 24 * 3600 * 1000;
  for (const key of Object.keys(localStorage)) {
    if (!key.startsWith(DRAFT_PREFIX)) continue;
    const savedAt = (() => {
      try {
        return JSON.parse(localStorage.getItem(key)).savedAt || 0;
      } catch {
        return 0;
      }
    })();
    if (savedAt < limit) localStorage.removeItem(key);
  }
}

function readDraft(taskId) {
  try {
    return JSON.parse(localStorage.getItem(DRAFT_PREFIX + taskId) || "null");
  } catch {
    return null;
  }
}

function dropDraft(taskId) {
  localStorage.removeItem(DRAFT_PREFIX + taskId);
}

// --- loading a task ---------------------------------------------------------------------
async function askForTasks() {
  return fetch(`${root.dataset.nextUrl}?include=ahead`, {
    credentials: "same-origin",
    headers: { Accept: "application/json" },
  });
}

async function loadNext() {
  stopWaiting();
  stopTimer();
  task = null;
  following = null;
  delete ui.workspace.dataset.taskId;
  showProblems([]);
  ui.workspace.hidden = true;
  ui.empty.hidden = true;
  ui.title.textContent = "Loading your next task…";
  let response;
  try {
    response = await askForTasks();
  } catch {
    showStatus("Cannot reach the server to get a task. Check your connection, then press Check again.");
    showEmpty("The server could not be reached.");
    return;
  }
  if (response.status === 204) {
    // A bounded session (a panel's participant) whose work is over: its finish page takes over.
    const finishUrl = response.headers.get("Work-Finish-URL");
    if (finishUrl) {
      showEmpty("Your session is complete. Taking you to the next step…", { heading: "Thank you!" });
      window.location.assign(finishUrl);
      return;
    }
    if (response.headers.get("Work-Outlook") === "done") {
      emptyAnswers = 0;
      showEmpty(EMPTY.done.text, { heading: EMPTY.done.heading });
    } else {
      showEmpty(EMPTY.later.text, { heading: EMPTY.later.heading, button: "Try now" });
      const seconds = retrySeconds(response.headers.get("Retry-After")) * 2 ** Math.min(emptyAnswers, 4);
      emptyAnswers += 1;
      waitAndAskAgain(Math.min(seconds, MAX_RETRY_SECONDS));
    }
    return;
  }
  emptyAnswers = 0;
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    ui.title.textContent = "No tasks for you";
    const reasons = Object.values(body.errors || {})[0];
    showEmpty(reasons ? reasons[0] : `The server answered ${response.status}.`);
    // Not allowed to work (403), or signed out (401): the home page says why, or asks to sign in.
    if (response.status === 403 || response.status === 401) {
      window.setTimeout(() => window.location.assign(root.dataset.finishUrl || root.dataset.homeUrl), 4000);
    }
    return;
  }
  await showTask(body);
  keepAhead(body.following);
}

// --- the task ahead ------------------------------------------------------------------------
// Its photo is loaded (and decoded) now, so showing it later waits for nothing.
function preloadImage(image) {
  const picture = new Image();
  picture.decoding = "async";
  picture.sizes = ui.image.sizes || "100vw";
  picture.srcset = image.srcset;
  picture.src = image.url;
  return picture.decode().then(
    () => true,
    () => false, // failed (offline, blocked, missing): the task is asked for again after this answer
  );
}

function keepAhead(next) {
  following = next ? { task: next, image: preloadImage(next.image) } : null;
  root.dataset.ahead = next ? String(next.id) : "";
}

// After an answer: the task ahead at once if its photo is here, then the server is told (it starts its
// clock and hands out the one after); without one, the task is asked for as before.
async function advance() {
  const ahead = following;
  following = null;
  if (!ahead || !(await ahead.image)) {
    await loadNext();
    return;
  }
  await showTask(ahead.task);
  let response = null;
  try {
    response = await askForTasks();
  } catch {
    response = null;
  }
  if (!response || response.status !== 200) return; // this task stays; the next answer asks again
  const body = await response.json().catch(() => null);
  if (!body) return;
  if (body.id !== ahead.task.id) {
    await showTask(body); // the one ahead was lost meanwhile (it expired): show what the server holds now
  } else {
    task.expires_at = body.expires_at;
    task.extendable_until = body.extendable_until;
    task.ahead = false;
    startTimer();
  }
  keepAhead(body.following);
}

function showEmpty(text, { heading = EMPTY.default.heading, button = "Check again" } = {}) {
  ui.title.textContent = "No task right now";
  ui.emptyHeading.textContent = heading;
  ui.emptyText.textContent = text || EMPTY.default.text;
  ui.checkAgain.textContent = button;
  ui.empty.hidden = false;
  ui.banner.hidden = true;
}

// Retry-After in seconds (the API sends a number; anything else falls back to the default).
function retrySeconds(header) {
  const seconds = Number.parseInt(header ?? "", 10);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds : DEFAULT_RETRY_SECONDS;
}

// Count down Retry-After seconds on the page, then ask for a task again; "Try now" asks at once.
function waitAndAskAgain(seconds) {
  stopWaiting();
  let left = Math.max(1, seconds);
  ui.countdown.textContent = left;
  ui.waiting.hidden = false;
  retryTimer = window.setInterval(() => {
    left -= 1;
    ui.countdown.textContent = Math.max(left, 0);
    if (left <= 0) loadNext();
  }, 1000);
}

function stopWaiting() {
  if (retryTimer !== null) window.clearInterval(retryTimer);
  retryTimer = null;
  ui.waiting.hidden = true;
}

async function showTask(next) {
  stopWaiting();
  task = next;
  delete ui.workspace.dataset.taskId;
  const draft = readDraft(task.id);
  submissionId = draft?.submissionId || newSubmissionId();
  startedAt = performance.now();
  ui.banner.hidden = !task.qualification;
  ui.announcement.hidden = true;
  ui.empty.hidden = true;
  ui.image.srcset = task.image.srcset;
  ui.image.src = task.image.url;
  ui.fullSize.href = task.original_image_url;
  ui.image.width = task.image_width;
  ui.image.height = task.image_height;
  const loaded = await ui.image.decode().then(() => true, () => false);
  showImageProblem(!loaded);
  ui.workspace.hidden = false;
  ui.workspace.dataset.kind = task.kind;
  if (task.kind === "boxes") {
    ui.title.textContent = "Draw a box around every person";
    ui.caption.textContent = "Drag to draw a box; drag a box to move it, its corners to resize it.";
    ui.boxesForm.hidden = false;
    ui.emotionsForm.hidden = true;
    boxes.edit(task.image_width, task.image_height, task.suggested_boxes);
    ui.noPeople.checked = false;
    if (draft?.answer) {
      boxes.restore(draft.answer.boxes || []);
      ui.noPeople.checked = Boolean(draft.answer.no_people);
    }
    renderBoxList();
  } else {
    ui.title.textContent = "How does the person in the red box feel?";
    ui.caption.textContent = "The person to annotate is in the red box. Look at the whole scene.";
    ui.boxesForm.hidden = true;
    ui.emotionsForm.hidden = false;
    boxes.showPerson(task.image_width, task.image_height, task.person_box);
    emotions.reset();
    if (draft?.answer) emotions.restore(draft.answer);
  }
  ui.title.focus();
  startTimer();
  ui.workspace.dataset.taskId = task.id; // ready for input
}

// The photo did not load: say so where it should be, with a retry (the answer in progress is kept).
function showImageProblem(failed) {
  ui.imageProblem.hidden = !failed;
}

ui.imageRetry.addEventListener("click", async () => {
  if (!task) return;
  const url = new URL(task.image.url, window.location.href);
  url.searchParams.set("retry", String(Date.now()));
  ui.image.srcset = "";
  ui.image.src = url.toString();
  showImageProblem(!(await ui.image.decode().then(() => true, () => false)));
});

// --- the task's time: a timer, a warning, extension on activity --------------------------------
let timer = null;
let lastExtended = 0;
let extending = false;

function secondsLeft() {
  return task ? (Date.parse(task.expires_at) - Date.now()) / 1000 : 0;
}

function clock(seconds) {
  const whole = Math.max(0, Math.ceil(seconds));
  return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, "0")}`;
}

function tick() {
  if (!task) return;
  const left = secondsLeft();
  ui.timeLeft.textContent = clock(left);
  ui.timer.hidden = false;
  const warn = left <= WARNING_SECONDS;
  ui.timer.classList.toggle("warning", warn);
  if (left <= 0) {
    ui.expiryText.textContent = "Your time for this task is up. Submit now: your answer is still kept if nobody else has taken this person.";
    ui.extendButton.hidden = true;
  } else if (warn) {
    const ceiling = task.extendable_until ? Date.parse(task.extendable_until) : 0;
    const more = ceiling - Date.parse(task.expires_at) > 1000;
    ui.expiryText.textContent = `This task ends in ${clock(left)}.` +
      (more ? " Keep working, or press the button, and it is extended." : " It cannot be extended further: submit soon.");
    ui.extendButton.hidden = !more;
  }
  ui.expiryWarning.hidden = !warn;
}

function startTimer() {
  stopTimer();
  tick();
  timer = window.setInterval(tick, 1000);
}

function stopTimer() {
  if (timer !== null) window.clearInterval(timer);
  timer = null;
  ui.timer.hidden = true;
  ui.expiryWarning.hidden = true;
}

// The worker is active: extend the task when less than half its time is left (at most every EXTEND_EVERY_MS).
async function extend({ force = false } = {}) {
  if (!task || task.ahead || extending || secondsLeft() <= 0) return;
  if (!force && (secondsLeft() > TIMEOUT_SECONDS / 2 || Date.now() - lastExtended < EXTEND_EVERY_MS)) return;
  const current = task;
  extending = true;
  lastExtended = Date.now();
  try {
    const response = await fetch(`${root.dataset.tasksUrl}${current.id}/extend/`, {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRFToken": csrfToken },
    });
    if (response.ok && task === current) {
      const body = await response.json();
      task.expires_at = body.expires_at;
      task.extendable_until = body.extendable_until;
      tick();
    }
  } catch {
    // offline: the timer shows the time as it is; the answer is still sent reliably
  } finally {
    extending = false;
  }
}

for (const type of ["pointerdown", "keydown", "input"]) {
  root.addEventListener(type, () => extend(), { passive: true });
}
ui.extendButton.addEventListener("click", () => extend({ force: true }));

// A bounded session's banner (tasks left, time), refreshed after every answer.
async function refreshSessionBanner() {
  const banner = $("session-banner");
  if (!banner) return;
  const response = await fetch(root.dataset.meUrl, { credentials: "same-origin" }).catch(() => null);
  if (!response || !response.ok) return;
  const me = await response.json();
  if (me.session) banner.textContent = me.session.label;
}

// --- the qualification test ---------------------------------------------------------------------
// Every answer to an item says where the test stands (continue, passed, failed): no extra request.
function qualificationProgress(outcome) {
  $("qualification-number").textContent = Math.min(outcome.answered + 1, outcome.size);
  $("qualification-size").textContent = outcome.size;
}

function announce(outcome) {
  stopTimer();
  ui.workspace.hidden = true;
  ui.banner.hidden = true;
  ui.announcementList.replaceChildren();
  const passed = outcome.state === "passed";
  ui.title.textContent = passed ? "You passed the qualification test" : "You did not pass the qualification test";
  ui.announcementHeading.textContent = passed ? "Well done: you are qualified" : "Not passed this time";
  const accepted = outcome.results.filter((r) => r.passed).length;
  let text = `${accepted} of ${outcome.size} answers were accepted. `;
  if (passed) {
    text += "Real work comes next: drawing boxes around people and rating the emotions of one person at a time, " +
      "as in the test. Hidden check items are mixed in, so keep answering as carefully.";
  } else if (outcome.retry_at) {
    const when = new Date(outcome.retry_at).toLocaleString();
    text += `You may take the test again from ${when} (${outcome.attempts_left} attempt(s) left). Below, what was not accepted and why.`;
  } else {
    text += "No attempt is left. Below, what was not accepted and why.";
  }
  ui.announcementText.textContent = text;
  for (const result of outcome.results) {
    const item = document.createElement("li");
    const verdict = result.passed ? "accepted" : `not accepted: ${result.note}`;
    item.textContent = `Item ${result.number} (${result.kind}): ${verdict}.` + (result.explanation ? ` ${result.explanation}` : "");
    ui.announcementList.append(item);
  }
  ui.announcementList.hidden = passed;
  ui.startWork.hidden = !passed;
  ui.announcement.hidden = false;
  ui.announcementHeading.focus();
}

ui.startWork.addEventListener("click", () => {
  ui.announcement.hidden = true;
  loadNext();
});

// After an answer or a skip: where the test stands decides what comes next.
async function afterClosing(result) {
  const outcome = result?.qualification;
  if (outcome && outcome.state !== "continue") {
    announce(outcome);
    return;
  }
  if (outcome) qualificationProgress(outcome);
  await advance();
}

// --- boxes task ---------------------------------------------------------------------------
function boxesChanged(selectionOnly) {
  if (!selectionOnly && boxes.boxes.length) ui.noPeople.checked = false;
  renderBoxList();
  if (!selectionOnly) saveDraft();
}

function renderBoxList() {
  ui.boxList.replaceChildren();
  boxes.boxes.forEach((box, index) => {
    const item = document.createElement("li");
    item.className = index === boxes.selected ? "selected" : "";
    const select = document.createElement("button");
    select.type = "button";
    select.className = "link";
    select.textContent = `Person ${index + 1}${box.suggested ? " (found automatically)" : ""}`;
    select.setAttribute("aria-pressed", String(index === boxes.selected));
    select.addEventListener("click", () => boxes.select(index));
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "secondary small";
    remove.textContent = "Delete";
    remove.setAttribute("aria-label", `Delete box ${index + 1}`);
    remove.addEventListener("click", () => boxes.deleteBox(index));
    item.append(select, " ", remove);
    ui.boxList.append(item);
  });
}

ui.noPeople.addEventListener("change", () => {
  if (ui.noPeople.checked) {
    while (boxes.boxes.length) boxes.deleteBox(0);
  }
  saveDraft();
});

// --- sending ----------------------------------------------------------------------------
function validate(answer) {
  if (task.kind === "emotions") return emotions.missing();
  if (!answer.boxes.length && !answer.no_people) {
    return [{ field: "boxes", message: "Draw a box around each person, or tick “There are no people in this image”.", element: ui.noPeople }];
  }
  return [];
}

function retryMessage({ attempt, attempts, delay }) {
  showStatus(
    `Could not reach the server (attempt ${attempt} of ${attempts}). Trying again in ${Math.ceil(delay / 1000)} s. ` +
      "Your answer is kept in this browser.",
  );
}

async function send(url, body) {
  setBusy(true);
  try {
    const result = await postReliably(url, body, { csrfToken, onRetry: retryMessage });
    showStatus("");
    return result;
  } catch (error) {
    if (error instanceof UnsentError) {
      showStatus(
        "Your answer could not be sent: the server cannot be reached. It is saved in this browser and will be " +
          "sent when you press Send again, when your connection returns, or when you next open this page.",
        { resend: true },
      );
    }
    throw error;
  } finally {
    setBusy(false);
  }
}

function setBusy(value) {
  busy = value;
  for (const button of [ui.submit, ui.skip, ui.report]) button.disabled = value;
}

function refusalProblems(error) {
  const errors = error.body.errors || {};
  const names = Object.keys(errors);
  if (!names.length) return [{ message: error.message }];
  return names.map((field) => ({ field, message: `${field}: ${errors[field].join(" ")}` }));
}

async function submit() {
  if (!task || busy) return;
  const answer = currentAnswer();
  const problems = validate(answer);
  showProblems(problems);
  if (problems.length) return;
  const body = { submission_id: submissionId, ...answer, seconds_spent: Math.round((performance.now() - startedAt) / 100) / 10 };
  const finished = task;
  try {
    const result = await send(`${root.dataset.tasksUrl}${finished.id}/submit/`, body);
    updateCounter(result);
    dropDraft(finished.id);
    showStatus(`Saved. Thank you!`);
    refreshSessionBanner();
    await afterClosing(result);
  } catch (error) {
    await handleRefusal(error, finished);
  }
}

async function closeTask(action, reason) {
  if (!task || busy) return;
  const finished = task;
  try {
    const result = await send(`${root.dataset.tasksUrl}${finished.id}/${action}/`, { reason });
    dropDraft(finished.id);
    await afterClosing(result);
  } catch (error) {
    await handleRefusal(error, finished);
  }
}

async function handleRefusal(error, finished) {
  if (!(error instanceof RefusedError)) return; // unsent: the message is already shown
  if (error.status === 409 || error.status === 404) {
    dropDraft(finished.id);
    showStatus(`This task is closed: ${error.message.replace(/^task: /, "")}. Here is the next one.`);
    await loadNext();
  } else if (error.status === 401 || error.status === 403) {
    showStatus("You are logged out. Log in again: your answer is kept in this browser and will be sent then.");
  } else {
    showProblems(refusalProblems(error));
  }
}

async function sendUnsent() {
  const waiting = unsentRequests();
  if (!waiting.length) return true;
  showStatus(`Sending ${waiting.length} answer(s) saved in this browser…`);
  let sent = 0;
  const refused = [];
  for (const { url, body } of waiting) {
    try {
      const result = await send(url, body);
      updateCounter(result);
      sent += 1;
    } catch (error) {
      if (error instanceof UnsentError) return false;
      if (error instanceof RefusedError && [401, 403].includes(error.status)) {
        showStatus("Answers are saved in this browser: log in again to send them.");
        return false;
      }
      refused.push(error.message); // the server will never take this one: say so, never claim it was sent
    }
  }
  if (refused.length) {
    const sentPart = sent ? `${sent} answer(s) saved in this browser were sent. ` : "";
    showStatus(`${sentPart}${refused.length} could not be stored and were dropped: ${refused.join("; ")}`);
  } else {
    showStatus("Answers saved in this browser were sent.");
  }
  return true;
}

ui.resend.addEventListener("click", async () => {
  if (await sendUnsent()) await loadNext();
});
window.addEventListener("online", async () => {
  if (unsentRequests().length && (await sendUnsent())) await loadNext();
});

// --- report dialog ----------------------------------------------------------------------
function openReport() {
  if (!task || busy) return;
  ui.reportForm.reset();
  ui.reportProblem.hidden = true;
  ui.reportDialog.showModal();
}

ui.reportForm.addEventListener("submit", async (event) => {
  if (event.submitter?.value !== "report") return;
  const choice = ui.reportForm.querySelector('input[name="report-reason"]:checked');
  const details = ui.reportDetails.value.trim();
  const reason = choice?.value === "other" ? details : [choice?.value, details].filter(Boolean).join(": ");
  if (!reason) {
    event.preventDefault();
    ui.reportProblem.textContent = "Say what is wrong with the image.";
    ui.reportProblem.hidden = false;
    return;
  }
  await closeTask("report", reason);
});

// --- keyboard -----------------------------------------------------------------------------
function typing(target) {
  return target.matches?.('input[type="search"], input[type="text"], textarea') || target.isContentEditable;
}

document.addEventListener("keydown", (event) => {
  if (ui.reportDialog.open) return;
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    submit();
    return;
  }
  if (!task || typing(event.target) || event.ctrlKey || event.metaKey) return;
  if (event.altKey && task.kind !== "boxes") return;
  const key = event.key;
  const handled = (task.kind === "boxes" ? boxKey(event) : emotionKey(key)) || commonKey(key);
  if (handled) event.preventDefault();
});

function commonKey(key) {
  if (key === "?") {
    toggleKeyMap();
  } else if (key === "s" || key === "S") {
    skip();
  } else if (key === "r" || key === "R") {
    openReport();
  } else {
    return false;
  }
  return true;
}

function emotionKey(key) {
  if (key === "/") {
    emotions.focusFilter();
  } else if (/^[0-9]$/.test(key) && !document.activeElement?.matches('input[type="range"]')) {
    emotions.typeDigit(key === "0" ? 10 : Number(key));
  } else if (/^[0-9]$/.test(key)) {
    const dimension = document.activeElement.id;
    emotions.setValue(dimension, key === "0" ? 10 : Number(key));
  } else {
    const choice = { m: ["gender", "Male"], f: ["gender", "Female"], k: ["age", "Kid"], t: ["age", "Teenager"], a: ["age", "Adult"] }[key.toLowerCase()];
    if (!choice) return false;
    emotions.choose(...choice);
  }
  return true;
}

function boxKey(event) {
  const step = event.shiftKey ? 10 : 1;
  const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
  if (moves[event.key] && boxes.selected >= 0) {
    const [dx, dy] = moves[event.key];
    return boxes.nudge(dx, dy, event.altKey);
  }
  if (event.altKey) return false;
  switch (event.key) {
    case "b":
    case "B":
      ui.noPeople.checked = false;
      boxes.addCentredBox();
      return true;
    case "[":
      boxes.selectNext(-1);
      return true;
    case "]":
      boxes.selectNext(1);
      return true;
    case "Delete":
    case "Backspace":
      boxes.deleteBox();
      return true;
    case "Escape":
      boxes.select(-1);
      return true;
    case "n":
    case "N":
      ui.noPeople.checked = !ui.noPeople.checked;
      ui.noPeople.dispatchEvent(new Event("change"));
      return true;
    default:
      return false;
  }
}

function toggleKeyMap() {
  const open = ui.keyMap.hidden;
  ui.keyMap.hidden = !open;
  ui.keysToggle.setAttribute("aria-expanded", String(open));
}

ui.keysToggle.addEventListener("click", toggleKeyMap);
ui.submit.addEventListener("click", submit);
ui.skip.addEventListener("click", skip);

// One stray key or tap must not throw away a filled-in answer, and a qualification item is skipped only
// when the worker means it: ask first. (A skipped qualification item is no failure: another replaces it.)
function skip() {
  if (!task || busy) return;
  const started = localStorage.getItem(DRAFT_PREFIX + task.id) !== null;
  let question = null;
  if (task.qualification) {
    question = "Skip this test item? It does not count against you: another item takes its place." +
      (started ? " What you have entered for it will be lost." : "");
  } else if (started) {
    question = "Skip this task? What you have entered for it will be lost.";
  }
  if (!question || window.confirm(question)) closeTask("skip", "");
}
ui.report.addEventListener("click", openReport);
ui.checkAgain.addEventListener("click", loadNext);

// --- start --------------------------------------------------------------------------------
(async () => {
  pruneDrafts();
  await sendUnsent();
  await loadNext();
})();
