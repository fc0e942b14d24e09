/* The playground: draw a digit, and the network the playground chapter
 * trained on MNIST when the site was built classifies it in the browser.
 * Plain JavaScript, no library, nothing fetched but the model file next to
 * the page.
 *
 * The model file lists the layers in order (conv2d, relu, maxpool2d,
 * flatten, linear) and holds every weight; this script runs them on the
 * 28×28 image it makes from the strokes the way MNIST's digits were made.
 */
(function () {
  "use strict";

  // ---- the network, layer by layer (arrays are flat, row-major, like PyTorch) ----
  // A tensor here is {data: Float64Array, c, h, w}: c channels of h × w.

  /** The side of a convolution's output for an input side n (PyTorch's formula). */
  function convolvedSize(n, { kernel: k, stride: s, padding: p }) {
    return Math.floor((n + 2 * p - k) / s) + 1;
  }

  function conv2d(x, layer) {
    const { weight, bias, out, kernel: k, stride: s, padding: p } = layer;
    const h = convolvedSize(x.h, layer), w = convolvedSize(x.w, layer);
    const data = new Float64Array(out * h * w);
    for (let o = 0; o < out; o++) {
      for (let y = 0; y < h; y++) {
        for (let xo = 0; xo < w; xo++) {
          let sum = bias[o];
          for (let c = 0; c < x.c; c++) {
            for (let ky = 0; ky < k; ky++) {
              const iy = y * s + ky - p; // positions in the padding count as 0
              if (iy < 0 || iy >= x.h) continue;
              const row = (c * x.h + iy) * x.w, wRow = ((o * x.c + c) * k + ky) * k;
              for (let kx = 0; kx < k; kx++) {
                const ix = xo * s + kx - p;
                if (ix < 0 || ix >= x.w) continue;
                sum += weight[wRow + kx] * x.data[row + ix];
              }
            }
          }
          data[(o * h + y) * w + xo] = sum;
        }
      }
    }
    return { data, c: out, h, w };
  }

  function relu(x) {
    return { ...x, data: x.data.map((v) => (v > 0 ? v : 0)) };
  }

  function maxPool2d(x, { kernel: k, stride: s }) {
    const h = Math.floor((x.h - k) / s) + 1, w = Math.floor((x.w - k) / s) + 1;
    const data = new Float64Array(x.c * h * w);
    for (let c = 0; c < x.c; c++) {
      for (let y = 0; y < h; y++) {
        for (let xo = 0; xo < w; xo++) {
          let best = -Infinity;
          for (let ky = 0; ky < k; ky++) {
            for (let kx = 0; kx < k; kx++) best = Math.max(best, x.data[(c * x.h + y * s + ky) * x.w + xo * s + kx]);
          }
          data[(c * h + y) * w + xo] = best;
        }
      }
    }
    return { data, c: x.c, h, w };
  }

  function linear(x, { weight, bias }) {
    const data = new Float64Array(bias.length), n = x.data.length;
    for (let o = 0; o < bias.length; o++) {
      let sum = bias[o];
      for (let i = 0; i < n; i++) sum += weight[o * n + i] * x.data[i];
      data[o] = sum;
    }
    return { data, c: bias.length, h: 1, w: 1 };
  }

  const RUN = {
    conv2d, relu, linear,
    maxpool2d: maxPool2d,
    flatten: (x) => ({ data: x.data, c: x.data.length, h: 1, w: 1 }),
  };

  function softmax(logits) {
    const top = Math.max(...logits);
    const exps = logits.map((v) => Math.exp(v - top));
    const total = exps.reduce((a, b) => a + b, 0);
    return exps.map((v) => v / total);
  }

  function loadModel(doc) {
    if (doc.format !== "cnn-tutorial-weights/2") {
      throw new Error(`expected a model exported by the playground chapter (cnn-tutorial-weights/2), got ${doc.format}`);
    }
    const layers = doc.layers.map((spec) => {
      if (!(spec.type in RUN)) throw new Error(`unknown layer type ${spec.type}`);
      const layer = { ...spec };
      if (spec.name) {
        layer.weight = Float64Array.from(doc.tensors[`${spec.name}.weight`].data);
        layer.bias = Float64Array.from(doc.tensors[`${spec.name}.bias`].data);
        layer.out = doc.tensors[`${spec.name}.bias`].shape[0];
      }
      return layer;
    });
    const [c, h, w] = doc.input;
    return { layers, input: { c, h, w } };
  }

  /** pixels: 784 values in [0, 1], row by row. Returns the logits and the first convolution's maps (after its ReLU). */
  function forward(model, pixels) {
    let x = { data: Float64Array.from(pixels), ...model.input };
    let maps = null;
    model.layers.forEach((layer, i) => {
      x = RUN[layer.type](x, layer);
      if (!maps && layer.type === "relu" && model.layers[i - 1].type === "conv2d") maps = x;
    });
    return { logits: Array.from(x.data), maps };
  }

  // ---- preprocessing: the strokes → an MNIST digit ----
  // MNIST's digits were scaled (keeping their proportions) so that the box
  // around the ink is 20 pixels on its longer side, anti-aliased, then placed
  // in 28×28 with the ink's center of mass at pixel (14, 14). We redraw the
  // reader's strokes the same way: with a pen PEN pixels wide (whatever size
  // the reader wrote at), their box filling 20 pixels, drawn SUPER times finer
  // and averaged back (anti-aliasing), then shifted to center the mass.

  const SIZE = 28, BOX = 20, PEN = 2.8, SUPER = 4;

  function toDigit(strokes) {
    const pixels = new Float64Array(SIZE * SIZE);
    const points = strokes.flat();
    if (points.length === 0) return pixels;
    const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
    const left = Math.min(...xs), top = Math.min(...ys);
    const boxW = Math.max(...xs) - left, boxH = Math.max(...ys) - top;
    const big = BOX * SUPER;
    const scale = (BOX - PEN) * SUPER / Math.max(boxW, boxH, 1);
    const offsetX = (big - boxW * scale) / 2, offsetY = (big - boxH * scale) / 2;
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = big;
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    ctx.lineWidth = PEN * SUPER;
    ctx.lineCap = ctx.lineJoin = "round";
    for (const stroke of strokes) {
      const at = (p) => [(p[0] - left) * scale + offsetX, (p[1] - top) * scale + offsetY];
      ctx.beginPath();
      ctx.moveTo(...at(stroke[0]));
      for (const p of stroke.length > 1 ? stroke.slice(1) : [[stroke[0][0] + 1e-3, stroke[0][1]]]) ctx.lineTo(...at(p));
      ctx.stroke();
    }
    // Average each SUPER × SUPER block: the 20 × 20 anti-aliased digit.
    const alpha = ctx.getImageData(0, 0, big, big).data;
    const box = new Float64Array(BOX * BOX);
    for (let y = 0; y < big; y++) {
      for (let x = 0; x < big; x++) box[Math.floor(y / SUPER) * BOX + Math.floor(x / SUPER)] += alpha[(y * big + x) * 4 + 3] / 255 / (SUPER * SUPER);
    }
    // Center of mass, and the box around the ink (which must stay inside 28 × 28).
    let mass = 0, my = 0, mx = 0, y0 = BOX, y1 = -1, x0 = BOX, x1 = -1;
    for (let y = 0; y < BOX; y++) {
      for (let x = 0; x < BOX; x++) {
        const v = box[y * BOX + x];
        if (v <= 0) continue;
        mass += v; my += v * y; mx += v * x;
        y0 = Math.min(y0, y); y1 = Math.max(y1, y); x0 = Math.min(x0, x); x1 = Math.max(x1, x);
      }
    }
    if (mass === 0) return pixels;
    const place = (center, low, high) => Math.min(Math.max(Math.round(SIZE / 2 - center), -low), SIZE - 1 - high);
    const dy = place(my / mass, y0, y1), dx = place(mx / mass, x0, x1);
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) pixels[(y + dy) * SIZE + x + dx] = Math.min(1, box[y * BOX + x]);
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
    root.dataset.ready = "true";
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
      paintGrid(seen, pixels, SIZE, 0, 1);
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
      const area = maps.h * maps.w;
      mapsBox.querySelectorAll("canvas").forEach((canvas, c) => {
        const map = maps.data.subarray(c * area, (c + 1) * area);
        paintGrid(canvas, map, maps.w, 0, Math.max(...map));
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

    // The model file is fetched once the page has painted (or at the first touch of the pad):
    // fetched at once, its 60 KB (gzipped) shared a phone's connection with the page's first paint.
    const wanted = new Promise((resolve) => {
      afterFirstPaint(resolve);
      pad.addEventListener("pointerdown", resolve, { once: true });
    });
    const ready = wanted
      .then(() => fetch(root.dataset.model))
      .then((response) => {
        if (!response.ok) throw new Error(`${root.dataset.model}: HTTP ${response.status}`);
        return response.json();
      })
      .then((doc) => {
        model = loadModel(doc);
        // The feature maps' canvases, sized by arithmetic: running the network on a blank
        // image to learn their size added to the long task at load on a phone.
        const [first] = model.layers;
        if (first.type !== "conv2d") throw new Error(`expected the network to start with a convolution, got ${first.type}`);
        const mapHeight = convolvedSize(model.input.h, first), mapWidth = convolvedSize(model.input.w, first);
        for (let c = 0; c < first.out; c++) {
          mapsBox.insertAdjacentHTML("beforeend", `<canvas width="${mapWidth}" height="${mapHeight}" aria-label="${first.name} ${c}"></canvas>`);
        }
        root.classList.add("playground--ready");
        if (strokes.length) schedule();  // drawn while the model was on its way
        else result.textContent = text.empty;
        return model;
      })
      .catch((error) => {
        result.textContent = `${text.failed} ${error.message}`;
        throw error;
      });

    // For the tests and the curious: run the network on any 28×28 image.
    window.cnnPlayground = {
      ready,
      predict: (pixels) => forward(model, pixels).logits,
      probabilities: (pixels) => softmax(forward(model, pixels).logits),
      preprocess: () => Array.from(toDigit(strokes)),
    };
  }

  /** Calls `callback` once the page has loaded and a frame after that has been painted. */
  function afterFirstPaint(callback) {
    const afterNextFrame = () => requestAnimationFrame(() => setTimeout(callback));
    if (document.readyState === "complete") afterNextFrame();
    else window.addEventListener("load", afterNextFrame, { once: true });
  }

  function init() {
    document.querySelectorAll(".playground:not([data-ready])").forEach(setUp);
  }

  // Material's instant navigation swaps pages without reloading scripts: its
  // document$ announces every new page (the first one too).
  if (window.cnnPlaygroundInit) return window.cnnPlaygroundInit();
  window.cnnPlaygroundInit = init;
  if (window.document$ && typeof window.document$.subscribe === "function") window.document$.subscribe(init);
  else init();
})();
