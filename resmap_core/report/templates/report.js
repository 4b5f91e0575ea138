// The report's slice browser and 3D view (included into report.html.j2, inline).
// Data: the JSON in #scene-data, written by resmap_core/report/build.py (page_scene): the maps
// as MRC files, gzip-compressed and base64-encoded (resmap_core/report/volumes.py). Nothing is
// fetched: the maps are in the page, Mol* (molstar/molstar.js) beside it.
(function () {
  "use strict";
  const scene = JSON.parse(document.getElementById("scene-data").textContent);
  const $ = (id) => document.getElementById(id);

  // ---- the embedded maps ------------------------------------------------------------------

  /** base64 text -> bytes, then gunzip with the browser's own DecompressionStream. */
  async function unpack(b64) {
    const bin = atob(b64);
    const raw = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) raw[i] = bin.charCodeAt(i);
    const stream = new Blob([raw]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }

  const maps = (async () => {
    const density = await unpack(scene.density.mrc);
    const layers = [];
    const resolved = [];
    for (const layer of scene.layers) {
      layers.push(await unpack(layer.mrc));
      resolved.push(await unpack(layer.resolved));
    }
    return { density, layers, resolved };
  })();

  /** The palette as 256 RGB triplets over the key's range (linear between the 32 stops). */
  function paletteTable(stops) {
    const rgb = stops.map((h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)));
    const table = new Uint8ClampedArray(256 * 3);
    for (let j = 0; j < 256; j++) {
      const t = (j / 255) * (rgb.length - 1);
      const a = Math.min(Math.floor(t), rgb.length - 2);
      const f = t - a;
      for (let c = 0; c < 3; c++) table[3 * j + c] = rgb[a][c] * (1 - f) + rgb[a + 1][c] * f;
    }
    return table;
  }

  // ---- slice browser ----------------------------------------------------------------------

  async function sliceBrowser() {
    const m = await maps;
    const [nz, ny, nx] = scene.grid.shape_zyx;
    const [dz, dy, dx] = scene.grid.spacing_zyx_A;
    const count = nz * ny * nx;
    const density = new Int16Array(m.density.buffer, scene.density.offset, count);
    const layers = m.layers.map((b, i) => new Float32Array(b.buffer, scene.layers[i].offset, count));
    const resolved = m.resolved; // 1 where the voxel itself holds a resolution
    const scale = scene.density.scale;
    const [g0, g1] = scene.density.grey;
    const [k0, k1] = scene.key.range_A;
    const table = paletteTable(scene.key.stops);
    // Sections of data[z, y, x] (index x + nx (y + ny z)), rows drawn bottom-up as in the figures.
    const planes = {
      z: { n: nz, rows: ny, cols: nx, w: dx, h: dy, at: (k, r, c) => c + nx * (r + ny * k) },
      y: { n: ny, rows: nz, cols: nx, w: dx, h: dz, at: (k, r, c) => c + nx * (k + ny * r) },
      x: { n: nx, rows: nz, cols: ny, w: dy, h: dz, at: (k, r, c) => k + nx * (c + ny * r) },
    };
    const canvas = $("slice-canvas");
    const ctx = canvas.getContext("2d");
    const axis = $("slice-axis"), index = $("slice-index"), layerSel = $("slice-layer");
    const opacity = $("slice-opacity"), position = $("slice-position");

    function draw() {
      const p = planes[axis.value];
      const k = Math.min(+index.value, p.n - 1);
      const chosen = layerSel.value === "" ? -1 : +layerSel.value;
      const layer = chosen < 0 ? null : layers[chosen];
      const own = chosen < 0 ? null : resolved[chosen];
      const alpha = +opacity.value / 100;
      canvas.width = p.cols;
      canvas.height = p.rows;
      const px = 440 / Math.max(p.cols * p.w, p.rows * p.h);
      canvas.style.width = `${Math.round(p.cols * p.w * px)}px`;
      canvas.style.height = `${Math.round(p.rows * p.h * px)}px`;
      const image = ctx.createImageData(p.cols, p.rows);
      const out = image.data;
      for (let r = 0; r < p.rows; r++) {
        for (let c = 0; c < p.cols; c++) {
          const i = p.at(k, r, c);
          const g = Math.max(0, Math.min(1, (density[i] * scale - g0) / (g1 - g0))) * 255;
          let red = g, green = g, blue = g;
          const a = layer && own[i] ? layer[i] : NaN;
          if (a === a) { // a resolution (NaN: none, the map shows through)
            const j = 3 * Math.round(255 * Math.max(0, Math.min(1, (a - k0) / (k1 - k0))));
            red = (1 - alpha) * g + alpha * table[j];
            green = (1 - alpha) * g + alpha * table[j + 1];
            blue = (1 - alpha) * g + alpha * table[j + 2];
          }
          const o = 4 * ((p.rows - 1 - r) * p.cols + c);
          out[o] = red; out[o + 1] = green; out[o + 2] = blue; out[o + 3] = 255;
        }
      }
      ctx.putImageData(image, 0, 0);
      const step = { z: dz, y: dy, x: dx }[axis.value];
      position.textContent = `${axis.value} = ${k} (${(k * step).toFixed(1)} Å)`;
      canvas.dataset.drawn = String(+canvas.dataset.drawn + 1);
    }

    axis.addEventListener("change", () => {
      const p = planes[axis.value];
      index.max = String(p.n - 1);
      index.value = String(Math.floor(p.n / 2));
      draw();
    });
    for (const el of [index, opacity]) el.addEventListener("input", draw);
    layerSel.addEventListener("change", draw);
    draw();
  }

  // ---- 3D view (Mol*) ---------------------------------------------------------------------

  /** Default values of a Mol* parameter definition (what PD.getDefaultValues returns). */
  function defaults(params) {
    const out = {};
    for (const key of Object.keys(params)) {
      if (!params[key].isOptional) out[key] = params[key].defaultValue;
    }
    return out;
  }

  const nextFrames = () => new Promise((done) =>
    requestAnimationFrame(() => requestAnimationFrame(() => done())));

  async function view3d() {
    const box = $("viewer3d");
    const status = $("viewer-status");
    if (!box) return;
    if (!window.molstar) {
      status.textContent = "The 3D viewer (molstar/molstar.js beside this page) did not load.";
      box.dataset.state = "unavailable";
      return;
    }
    const viewer = await molstar.Viewer.create(box, {
      layoutIsExpanded: false, layoutShowControls: false, layoutShowSequence: false,
      layoutShowLog: false, layoutShowLeftPanel: false, layoutShowRemoteState: false,
      viewportShowExpand: false, viewportShowSelectionMode: false, viewportShowAnimation: false,
      viewportShowTrajectoryControls: false, extensions: [], volumeStreamingDisabled: true,
      collapseLeftPanel: true, pdbProvider: "pdbe", emdbProvider: "pdbe",
    });
    const plugin = viewer.plugin;
    const T = molstar.lib.plugin.StateTransforms;
    const m = await maps;

    async function volume(bytes, label) {
      const data = await plugin.builders.data.rawData({ data: bytes, label });
      const parsed = await plugin.dataFormats.get("ccp4").parse(plugin, data);
      return parsed.volumes ? parsed.volumes[0] : parsed.volume;
    }
    const map = await volume(m.density, "map");
    const layers = [];
    for (let i = 0; i < m.layers.length; i++) {
      layers.push(await volume(m.layers[i], scene.layers[i].name));
    }
    const themes = plugin.representation.volume.themes;
    const mapData = map.cell.obj.data;
    const surface = defaults(
      plugin.representation.volume.registry.get("isosurface").getParams(themes, mapData));
    const stored = (level) => level / scene.density.scale; // map units -> int16 steps
    surface.isoValue = { kind: "absolute", absoluteValue: stored(scene.density.level) };
    const colour = defaults(
      themes.colorThemeRegistry.get("external-volume").getParams({ volume: mapData }));
    colour.volume = { ref: layers[0].ref };
    colour.defaultColor = 0xa0a0a0;
    colour.coloring = {
      name: "absolute-value",
      params: {
        domain: { name: "custom", params: scene.key.range_A },
        list: { kind: "interpolate", colors: scene.key.stops.map((h) => parseInt(h.slice(1), 16)) },
      },
    };
    const size = defaults(themes.sizeThemeRegistry.get("uniform").getParams({ volume: mapData }));
    const repr = await plugin.build().to(map).apply(T.Representation.VolumeRepresentation3D, {
      type: { name: "isosurface", params: surface },
      colorTheme: { name: "external-volume", params: colour },
      sizeTheme: { name: "uniform", params: size },
    }).commit();

    if (scene.model) {
      const text = new TextDecoder().decode(await unpack(scene.model.data));
      const data = await plugin.builders.data.rawData({ data: text, label: scene.model.name });
      const trajectory = await plugin.builders.structure.parseTrajectory(data, scene.model.format);
      await plugin.builders.structure.hierarchy.applyPreset(
        trajectory, "default", { representationPreset: "polymer-cartoon" });
    }

    const update = (change) => plugin.build().to(repr).update(change).commit();
    const occlusion = plugin.canvas3d.props.postprocessing.occlusion;
    document.querySelectorAll("input[name=viewer-layer]").forEach((radio) =>
      radio.addEventListener("change", async () => {
        await update((old) => { old.colorTheme.params.volume = { ref: layers[+radio.value].ref }; });
        box.dataset.layer = radio.value;
      }));
    const level = $("viewer-level");
    level.addEventListener("input", async () => {
      $("viewer-level-value").textContent = (+level.value).toPrecision(4);
      await update((old) => {
        old.type.params.isoValue = { kind: "absolute", absoluteValue: stored(+level.value) };
      });
    });
    $("viewer-opacity").addEventListener("input", (e) =>
      update((old) => { old.type.params.alpha = +e.target.value; }));
    $("viewer-flat").addEventListener("change", async (e) => {
      const flat = e.target.checked;
      plugin.canvas3d.setProps({
        postprocessing: { occlusion: flat ? { name: "off", params: {} } : occlusion } });
      await update((old) => { old.type.params.ignoreLight = flat; });
    });
    const modelBox = $("viewer-model");
    if (modelBox) {
      modelBox.addEventListener("change", () => {
        const structures = plugin.managers.structure.hierarchy.current.structures;
        plugin.managers.structure.hierarchy.toggleVisibility(
          structures, modelBox.checked ? "show" : "hide");
      });
    }
    // The camera frames the mask's bounding box, not the whole map box.
    plugin.managers.camera.focusSphere(
      { center: scene.focus.center_A, radius: scene.focus.radius_A },
      { durationMs: 0, extraRadius: 0 });
    await nextFrames();
    status.textContent = "Drag to rotate, scroll to zoom.";
    box.dataset.layer = "0";
    box.plugin = plugin; // for inspection from the console (and the browser tests)
    box.dataset.state = "ready";
  }

  sliceBrowser().catch((e) => { $("slice-position").textContent = `slice browser failed: ${e}`; });
  view3d().catch((e) => {
    $("viewer-status").textContent = `The 3D view failed: ${e}`;
    $("viewer3d").dataset.state = "failed";
  });
})();
