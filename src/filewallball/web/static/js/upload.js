// Share files: each dropped or picked file uploads with its own progress, and ends with its
// share link, a copy button and a QR code. Large files go through the resumable (tus)
// protocol in chunks, so that a dropped connection, a pause or a closed tab costs at most a
// chunk: picking the same file again later resumes it (tus-js-client remembers its URL).
// AT_ONCE uploads run together; a paused one gives its turn to the next in line.
import { size, t } from "./i18n.js";
import { authorization, rememberDeleteToken } from "./key.js";
import { describe } from "./problems.js";
import { copy } from "./site.js";

const form = document.getElementById("upload-form");
const maxSize = Number(form.dataset.maxSize);
const resumableFrom = Number(form.dataset.resumableFrom);
const chunkSize = Number(form.dataset.chunk);
const list = document.getElementById("uploads");
const template = document.getElementById("upload-item");
const AT_ONCE = 3;
let created = 0;
let running = 0;
const waiting = []; // [item, start]: each waits for a turn, then start() sends it

/** One file's row: what it shows and the controls it offers. */
class Item {
  constructor(file) {
    this.file = file;
    this.id = ++created;
    this.node = template.content.firstElementChild.cloneNode(true);
    this.find(".name").textContent = file.name;
    this.find(".size").textContent = size(file.size);
    this.bar = this.find("progress");
    this.bar.setAttribute("aria-label", file.name);
    this.status = this.find(".status");
    this.status.textContent = t("upload.waiting");
    const link = this.find(".link");
    link.id = `link-${this.id}`;
    this.find(".link-label").htmlFor = link.id;
    this.find(".copy").addEventListener("click", (event) => copy(link, event.currentTarget));
    this.find(".cancel").addEventListener("click", () => {
      unqueue(this);
      this.onCancel();
    });
    this.onCancel = () => this.cancelled();
    list.prepend(this.node);
  }

  find(selector) {
    return this.node.querySelector(selector);
  }

  /** The speed counts from the first progress after this: bytes the server already had
   * (an upload resumed after a pause or a closed tab) are not sent again. */
  started() {
    this.from = null;
  }

  progress(done, total) {
    if (this.from === null) {
      this.since = performance.now();
      this.from = done;
    }
    const percent = total ? Math.floor((done / total) * 100) : 100;
    const seconds = (performance.now() - this.since) / 1000;
    const speed = seconds > 0 ? (done - this.from) / seconds : 0;
    this.bar.value = percent;
    this.status.textContent = t("upload.progress", {
      done: size(done),
      total: size(total),
      percent,
      speed: size(Math.max(0, Math.round(speed))),
    });
  }

  /** A pause gives up the upload's turn; resuming waits for one, ahead of new files. */
  pausable(pause, resume) {
    const button = this.find(".pause");
    let paused = false;
    button.hidden = false;
    button.addEventListener("click", async () => {
      paused = !paused;
      button.textContent = paused ? t("upload.resume") : t("upload.pause");
      if (paused) {
        // Resumed but still waiting for its turn, it leaves the line: nothing runs to stop.
        if (!unqueue(this)) {
          button.disabled = true; // until stopped: a second click would queue it twice
          await pause();
          button.disabled = false;
          this.release();
        }
        this.status.textContent = t("upload.paused", { done: size(Math.round((this.bar.value / 100) * this.file.size)) });
      } else {
        this.status.textContent = t("upload.waiting");
        waiting.unshift([this, resume]);
        next();
      }
    });
  }

  release() {
    if (this.running) {
      this.running = false;
      running -= 1;
      next();
    }
  }

  end() {
    this.find(".actions").hidden = true;
    this.release();
  }

  fail(message) {
    const error = this.find(".error");
    error.textContent = message;
    error.hidden = false;
    this.status.textContent = "";
    this.node.classList.add("failed");
    this.end();
  }

  cancelled() {
    this.status.textContent = t("upload.cancelled");
    this.node.classList.add("cancelled");
    this.end();
  }

  /** A private file's page opens for nobody (a page load carries no key): no link to it. */
  finish(fileId, shareUrl, deleteToken, isPublic) {
    if (deleteToken) rememberDeleteToken(fileId, deleteToken);
    this.bar.value = 100;
    this.status.textContent = `${t("upload.done")} · ${size(this.file.size)}`;
    this.find(".link").value = shareUrl;
    if (isPublic) {
      this.find(".open").href = shareUrl;
      this.find(".qr").src = `/s/${encodeURIComponent(fileId)}/qr.svg`;
    } else {
      this.find(".open").hidden = true;
      this.find(".qr").hidden = true;
      this.find(".private-note").hidden = false;
    }
    this.find(".result").hidden = false;
    this.node.classList.add("finished");
    this.node.dataset.fileId = fileId;
    this.end();
  }
}

function chosenOptions() {
  return {
    tags: document.getElementById("tags").value.trim(),
    isPublic: !document.getElementById("private").checked,
    expiresIn: document.getElementById("expiry").value,
    maxDownloads: document.getElementById("max-downloads").value.trim(),
  };
}

/** POST /upload as a multipart form, with the browser's upload progress. */
function sendWhole(item, options) {
  const file = item.file;
  const data = new FormData();
  data.append("file", file);
  data.append("is_public", String(options.isPublic));
  if (options.tags) data.append("tags", options.tags);
  if (options.expiresIn) data.append("expires_in", options.expiresIn);
  if (options.maxDownloads) data.append("max_downloads", options.maxDownloads);
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/upload");
  for (const [name, value] of Object.entries(authorization())) xhr.setRequestHeader(name, value);
  // The form's bytes include its boundaries: scale to the file's own size.
  xhr.upload.addEventListener("progress", (event) => {
    const share = event.lengthComputable && event.total ? event.loaded / event.total : 0;
    item.progress(Math.round(share * file.size), file.size);
  });
  xhr.addEventListener("load", () => {
    if (xhr.status === 201) {
      const answer = JSON.parse(xhr.responseText);
      item.finish(answer.file_id, answer.share_url, answer.delete_token, options.isPublic);
    } else {
      item.fail(describe(xhr.status, xhr.responseText));
    }
  });
  xhr.addEventListener("error", () => item.fail(describe(0, "")));
  xhr.addEventListener("abort", () => item.cancelled());
  item.onCancel = () => xhr.abort();
  item.started();
  xhr.send(data);
}

/** The tus protocol at /uploads, in chunks, resuming an earlier attempt at the same file. */
async function sendInChunks(item, options) {
  const file = item.file;
  const answer = {};
  const metadata = { filename: file.name, is_public: String(options.isPublic) };
  if (file.type) metadata.filetype = file.type;
  if (options.tags) metadata.tags = options.tags;
  if (options.expiresIn) metadata.expires_in = options.expiresIn;
  if (options.maxDownloads) metadata.max_downloads = options.maxDownloads;
  const upload = new window.tus.Upload(file, {
    endpoint: "/uploads",
    chunkSize,
    retryDelays: [0, 1000, 3000, 5000, 10000],
    metadata,
    headers: authorization(),
    removeFingerprintOnSuccess: true,
    onProgress: (sent, total) => item.progress(sent, total),
    // The answer that finishes the upload names the file it became; a HEAD, asked before
    // carrying on, says how much the server already has.
    onAfterResponse(request, response) {
      for (const name of ["X-File-Id", "X-Share-Url", "X-Delete-Token"]) {
        const value = response.getHeader(name);
        if (value) answer[name] = value;
      }
      const offset = Number(response.getHeader("Upload-Offset"));
      if (request.getMethod() === "HEAD" && response.getStatus() === 200 && offset > 0) {
        item.status.textContent = t("upload.resuming", { done: size(offset) });
      }
    },
    onSuccess: () =>
      item.finish(answer["X-File-Id"], answer["X-Share-Url"], answer["X-Delete-Token"], options.isPublic),
    onError(error) {
      const response = error.originalResponse;
      item.fail(describe(response ? response.getStatus() : 0, response ? response.getBody() : ""));
    },
  });
  let stopped = false;
  item.onCancel = () => {
    stopped = true;
    item.cancelled();
  };
  let earlier;
  try {
    earlier = await upload.findPreviousUploads();
  } catch {
    // The browser refuses its storage, where tus-js-client remembers uploads to resume.
    if (!stopped) item.fail(t("error.storage"));
    return;
  }
  if (stopped) return;
  if (earlier.length > 0) upload.resumeFromPreviousUpload(earlier[0]);
  item.pausable(
    () => upload.abort(),
    () => {
      item.started();
      upload.start();
    },
  );
  item.onCancel = () => {
    upload.abort(true).catch(() => {});
    item.cancelled();
  };
  item.started();
  upload.start();
}

function next() {
  while (running < AT_ONCE && waiting.length > 0) {
    const [item, start] = waiting.shift();
    running += 1;
    item.running = true;
    start();
  }
}

/** Takes the item out of the line, if it waits there; says whether it did. */
function unqueue(item) {
  const at = waiting.findIndex(([queued]) => queued === item);
  if (at >= 0) waiting.splice(at, 1);
  return at >= 0;
}

function add(files) {
  const options = chosenOptions();
  for (const file of files) {
    const item = new Item(file);
    if (file.size > maxSize) {
      item.fail(t("error.too_large", { size: size(maxSize) }));
      continue;
    }
    const send = item.file.size > resumableFrom ? sendInChunks : sendWhole;
    waiting.push([item, () => send(item, options)]);
  }
  next();
}

const picker = document.getElementById("picker");
picker.addEventListener("change", () => {
  add([...picker.files]);
  picker.value = ""; // the same file can be picked again, to resume it
});

const zone = document.getElementById("dropzone");
for (const type of ["dragenter", "dragover"]) {
  zone.addEventListener(type, (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
}
zone.addEventListener("dragleave", () => zone.classList.remove("over"));
zone.addEventListener("drop", (event) => {
  event.preventDefault();
  zone.classList.remove("over");
  add([...event.dataTransfer.files]);
});
// A file dropped beside the zone would make the browser leave the page to show it.
for (const type of ["dragover", "drop"]) {
  window.addEventListener(type, (event) => event.preventDefault());
}
