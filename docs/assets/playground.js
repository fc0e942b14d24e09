/* The playground: draw a digit, and DigitCNN (trained when the site was built)
 * classifies it in the browser. Plain JavaScript, no library, nothing fetched
 * but the model file next to the page.
 *
 * The network is the one in cnn_tutorial.models.DigitCNN:
 *   conv1 (1→8, 3×3, padding 1) → ReLU → max pool 2×2 → flatten (128)
 *   → fc1 (128→32) → ReLU → fc2 (32→10)
 */
(function () {
  "use strict";

  // ---- the network, layer by layer (arrays are flat, row-major, like PyTorch) ----

  function conv2d(input, inChannels, size, weight, bias, outChannels) {
    const out = new Float64Array(outChannels * size * size);
    for (let o = 0; o < outChannels; o++) {
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          let sum = bias[o];
          for (let c = 0; c < inChannels; c++) {
            for (let ky = 0; ky < 3; ky++) {
              const iy = y + ky - 1; // padding 1: positions outside the image count as 0
              if (iy < 0 || iy >= size) continue;
              for (let kx = 0; kx < 3; kx++) {
                const ix = x + kx - 1;
                if (ix < 0 || ix >= size) continue;
                sum += weight[((o * inChannels + c) * 3 + ky) * 3 + kx] * input[(c * size + iy) * size + ix];
              }
            }
          }
          out[(o * size + y) * size + x] = sum;
        }
      }
    }
    return out;
  }

  function relu(values) {
    return values.map((v) => (v > 0 ? v : 0));
  }

  function maxPool2(input, channels, size) {
    const half = size / 2;
    const out = new Float64Array(channels * half * half);
    for (let c = 0; c < channels; c++) {
      for (let y = 0; y < half; y++) {
        for (let x = 0; x < half; x++) {
          const at = (dy, dx) => input[(c * size + 2 * y + dy) * size + 2 * x + dx];
          out[(c * half + y) * half + x] = Math.max(at(0, 0), at(0, 1), at(1, 0), at(1, 1));
        }
      }
    }
    return out;
  }

  function linear(input, weight, bias) {
    const out = new Float64Array(bias.length);
    for (let o = 0; o < bias.length; o++) {
      let sum = bias[o];
      for (let i = 0; i < input.length; i++) sum += weight[o * input.length + i] * input[i];
      out[o] = sum;
    }
    return out;
  }

  function softmax(logits) {
    const top = Math.max(...logits);
    const exps = logits.map((v) => Math.exp(v - top));
    const total = exps.reduce((a, b) => a + b, 0);
    return exps.map((v) => v / total);
  }

  function loadModel(doc) {
    if (doc.format !== "cnn-tutorial-weights/1" || doc.model !== "DigitCNN") {
      throw new Error("expected a DigitCNN exported by cnn_tutorial.export, got " + doc.model);
    }
    const t = (name) => Float64Array.from(doc.tensors[name].data);
    const channels = doc.tensors["conv1.weight"].shape[0];
    return {
      channels,
      conv1: { weight: t("conv1.weight"), bias: t("conv1.bias") },
      fc1: { weight: t("fc1.weight"), bias: t("fc1.bias") },
      fc2: { weight: t("fc2.weight"), bias: t("fc2.bias") },
    };
  }

  /** pixels: 64 values in [0, 1], row by row. Returns the logits and conv1's maps. */
  function forward(model, pixels) {
    const maps = relu(conv2d(pixels, 1, 8, model.conv1.weight, model.conv1.bias, model.channels));
    const pooled = maxPool2(maps, model.channels, 8);
    const hidden = relu(linear(pooled, model.fc1.weight, model.fc1.bias));
    return { logits: Array.from(linear(hidden, model.fc2.weight, model.fc2.bias)), maps };
  }

  // ---- preprocessing: the strokes → what scikit-learn's digits look like ----
  // The digits were made from 32×32 black-and-white images of the whole digit,
  // written with a thick pen, counting the inked pixels in each 4×4 block
  // (0–16). We redraw the reader's strokes the same way: scale the drawing so
  // its longer side fills the 32×32 box (keeping proportions, centred), with a
  // pen about as thick as in the data (PEN pixels of 32, whatever the size the
  // reader wrote at), then count per block and divide by 16 as load_digits does.

  const PEN = 7;

  function toDigit(strokes) {
    const points = strokes.flat();
    const pixels = new Float64Array(64);
    if (points.length === 0) return pixels;
    const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
    const left = Math.min(...xs), top = Math.min(...ys);
    const boxW = Math.max(...xs) - left, boxH = Math.max(...ys) - top;
    const scale = (32 - PEN) / Math.max(boxW, boxH, 1e-6);
    const offsetX = (32 - boxW * scale) / 2, offsetY = (32 - boxH * scale) / 2;
    const small = document.createElement("canvas");
    small.width = small.height = 32;
    const ctx = small.getContext("2d", { willReadFrequently: true });
    ctx.lineWidth = PEN;
    ctx.lineCap = ctx.lineJoin = "round";
    for (const stroke of strokes) {
      const at = (p) => [(p[0] - left) * scale + offsetX, (p[1] - top) * scale + offsetY];
      ctx.beginPath();
      ctx.moveTo(...at(stroke[0]));
      for (const p of stroke.length > 1 ? stroke.slice(1) : [[stroke[0][0] + 1e-3, stroke[0][1]]]) ctx.lineTo(...at(p));
      ctx.stroke();
    }
    const bits = ctx.getImageData(0, 0, 32, 32).data;
    for (let y = 0; y < 32; y++) {
      for (let x = 0; x < 32; x++) {
        if (bits[(y * 32 + x) * 4 + 3] > 127) pixels[(y >> 2) * 8 + (x >> 2)] += 1 / 16;
      }
    }
    return pixels;
  }

  // ---- drawing the results ----

  function paintGrid(canvas, values, size, low, high) {
    const ctx = canvas.getContext("2d");
    const image = ctx.createImageData(size, size);
    for (let i = 0; i < size * size; i++) {
      const v = high > low ? (values[i] - low) / (high - low) : 0;
      const shade = Math.round(255 * (1 - v)); // dark = strong
      image.data.set([shade, shade, shade, 255], i * 4);
    }
    ctx.putImageData(image, 0, 0);
  }

  function setUp(root) {
    const pad = root.querySelector(".playground__canvas");
    const seen = root.querySelector(".playground__seen");
    const result = root.querySelector(".playground__result");
    const bars = root.querySelector(".playground__bars");
    const mapsBox = root.querySelector(".playground__maps");
    const text = root.dataset;
    const ctx = pad.getContext("2d");
    let model = null, drawing = false, last = null, pending = false;
    let strokes = []; // each stroke: the [x, y] points of one pen-down … pen-up

    for (let d = 0; d < 10; d++) {
      bars.insertAdjacentHTML("beforeend",
        `<div class="playground__bar"><span>${d}</span><meter min="0" max="1" value="0" aria-label="${d}"></meter><output>0%</output></div>`);
    }

    function predict() {
      pending = false;
      if (!model) return;
      const pixels = toDigit(strokes);
      paintGrid(seen, pixels, 8, 0, 1);
      if (!pixels.some((v) => v > 0)) {
        result.textContent = text.empty;
        return;
      }
      const { logits, maps } = forward(model, pixels);
      const probabilities = softmax(logits);
      const best = probabilities.indexOf(Math.max(...probabilities));
      result.textContent = `${text.prediction} ${best} (${Math.round(100 * probabilities[best])}%)`;
      result.dataset.digit = String(best);
      bars.querySelectorAll(".playground__bar").forEach((bar, d) => {
        bar.querySelector("meter").value = probabilities[d];
        bar.querySelector("output").textContent = `${Math.round(100 * probabilities[d])}%`;
        bar.classList.toggle("playground__bar--best", d === best);
      });
      mapsBox.querySelectorAll("canvas").forEach((canvas, c) => {
        const map = maps.subarray(c * 64, (c + 1) * 64);
        paintGrid(canvas, map, 8, 0, Math.max(...map));
      });
    }

    function schedule() {
      if (!pending) { pending = true; requestAnimationFrame(predict); }
    }

    function point(event) {
      const box = pad.getBoundingClientRect();
      return [(event.clientX - box.left) * pad.width / box.width, (event.clientY - box.top) * pad.height / box.height];
    }

    function clear() {
      ctx.clearRect(0, 0, pad.width, pad.height);
      strokes = [];
      delete result.dataset.digit;
      schedule();
    }

    pad.addEventListener("pointerdown", (event) => {
      drawing = true;
      last = point(event);
      strokes.push([last]);
      pad.setPointerCapture(event.pointerId);
      ctx.strokeStyle = getComputedStyle(pad).color;
      ctx.lineWidth = pad.width / 14;
      ctx.lineCap = ctx.lineJoin = "round";
      ctx.beginPath(); ctx.arc(last[0], last[1], ctx.lineWidth / 2, 0, 2 * Math.PI);
      ctx.fillStyle = ctx.strokeStyle; ctx.fill();
    });
    pad.addEventListener("pointermove", (event) => {
      if (!drawing) return;
      const next = point(event);
      ctx.beginPath(); ctx.moveTo(...last); ctx.lineTo(...next); ctx.stroke();
      strokes[strokes.length - 1].push(next);
      last = next;
      schedule();
    });
    for (const type of ["pointerup", "pointercancel"]) {
      pad.addEventListener(type, () => { drawing = false; schedule(); });
    }
    root.querySelector("[data-action=clear]").addEventListener("click", clear);
    root.querySelector("[data-action=predict]").addEventListener("click", predict);
    root.addEventListener("keydown", (event) => {
      if (event.target.closest("button")) return;
      if (event.key === "Delete" || event.key === "Backspace") clear();
      if (event.key === "Enter") predict();
    });

    const ready = fetch(root.dataset.model)
      .then((response) => {
        if (!response.ok) throw new Error(`${root.dataset.model}: HTTP ${response.status}`);
        return response.json();
      })
      .then((doc) => {
        model = loadModel(doc);
        for (let c = 0; c < model.channels; c++) {
          mapsBox.insertAdjacentHTML("beforeend", `<canvas width="8" height="8" aria-label="conv1 ${c}"></canvas>`);
        }
        result.textContent = text.empty;
        root.classList.add("playground--ready");
        return model;
      })
      .catch((error) => {
        result.textContent = `${text.failed} ${error.message}`;
        throw error;
      });

    // For the tests and the curious: run the network on any 8×8 image.
    window.cnnPlayground = {
      ready,
      predict: (pixels) => forward(model, Float64Array.from(pixels)).logits,
      preprocess: () => Array.from(toDigit(strokes)),
    };
  }

  document.querySelectorAll(".playground").forEach(setUp);
})();
