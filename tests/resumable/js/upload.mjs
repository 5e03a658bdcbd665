// Uploads a file with tus-js-client, as a web page or a Node program would, and prints what
// happened as JSON. Arguments: the server's /uploads URL, the file, the chunk size, and either
// "stop:N" (abort once N bytes are confirmed) or "resume:URL" (continue that upload).
import { readFileSync } from "node:fs";
import * as tus from "tus-js-client";

const [endpoint, path, chunkSize, how = ""] = process.argv.slice(2);
const data = readFileSync(path);
const [mode, argument] = how.split(/:(.*)/s);

const result = await new Promise((resolve, reject) => {
  let fileId = null;
  let resumedFrom = null;
  const upload = new tus.Upload(data, {
    endpoint,
    uploadUrl: mode === "resume" ? argument : null,
    chunkSize: Number(chunkSize),
    metadata: { filename: "from-tus-js-client.bin", filetype: "application/octet-stream" },
    retryDelays: [0, 1000, 2000, 4000],
    onBeforeRequest(request) {
      if (request.getMethod() === "PATCH" && resumedFrom === null) {
        resumedFrom = Number(request.getHeader("Upload-Offset"));
      }
    },
    onAfterResponse(_request, response) {
      fileId = response.getHeader("X-File-Id") || fileId;
    },
    onChunkComplete(_size, confirmed) {
      if (mode === "stop" && confirmed >= Number(argument)) {
        upload.abort().then(() => resolve({ url: upload.url, confirmed }));
      }
    },
    onSuccess() {
      resolve({ url: upload.url, fileId, resumedFrom });
    },
    onError: reject,
  });
  upload.start();
});
console.log(JSON.stringify(result));
