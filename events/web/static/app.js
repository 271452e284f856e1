// bgflow playground: posts the photo to /photography/background and shows each streamed step as it arrives.
const $ = (id) => document.getElementById(id);
let imageDataUri = null;

function pick(file) {
  if (!file) return;
  const reader = new FileReader();
  reader.onload = () => {
    imageDataUri = reader.result;
    $("img-input").src = imageDataUri;
    $("drop-text").textContent = file.name;
    $("run").disabled = false;
  };
  reader.readAsDataURL(file);
}

$("file").addEventListener("change", (e) => pick(e.target.files[0]));
const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); pick(e.dataTransfer.files[0]); });
$("token").value = localStorage.getItem("bgflow-token") || "";

function resetView() {
  document.querySelectorAll("#steps li").forEach((li) => { li.className = ""; li.querySelector("span").textContent = ""; });
  ["img-mask", "img-bg", "img-final"].forEach((id) => $(id).removeAttribute("src"));
  $("compare").hidden = true; $("download").hidden = true; $("analysis").textContent = "";
}

function show(step) {
  const li = document.querySelector(`#steps li[data-step="${step.step}"]`);
  if (step.error) {
    if (li) li.className = "error";
    $("status").textContent = `${step.error.code}: ${step.error.message}`;
    return;
  }
  if (li) { li.className = "done"; li.querySelector("span").textContent = `${Math.round(step.ms)} ms`; }
  if (step.step === 0) $("status").textContent = `Background: ${step.background_kind}`;
  if (step.step === 1) $("analysis").textContent = JSON.stringify({analysis: step.analysis, orientation: step.orientation}, null, 2);
  if (step.step === 2) {
    $("img-mask").src = step.mask.image;
    if (step.images_bg.length) $("img-bg").src = step.images_bg[0];
  }
  if (step.step === 3 && step.variant === 0) {
    $("img-final").src = step.output;
    $("cmp-after").src = step.output;
    alignedInput(step).then((uri) => { $("cmp-before").src = uri; });
    $("compare").hidden = false;
    const a = $("download"); a.href = step.output; a.download = `bgflow.${$("format").value}`; a.hidden = false;
    $("status").textContent = `Done (${step.action}); product colour change dE ${step.fidelity.delta_e_mean}`;
  }
}

// The input drawn into the final's framing (final = input * scale + offset), so the slider compares like with like.
function alignedInput(step) {
  return new Promise((resolve) => {
    const img = new Image();
    img.onload = () => {
      const [w, h] = step.size;
      const canvas = document.createElement("canvas");
      canvas.width = w; canvas.height = h;
      const ctx = canvas.getContext("2d");
      ctx.fillStyle = "#ffffff"; ctx.fillRect(0, 0, w, h);
      const {scale, offset} = step.placement;
      ctx.drawImage(img, offset[0], offset[1], img.width * scale, img.height * scale);
      resolve(canvas.toDataURL("image/jpeg", 0.9));
    };
    img.src = imageDataUri;
  });
}

$("cmp-range").addEventListener("input", (e) => { $("cmp-before-wrap").style.width = `${e.target.value}%`; });
new ResizeObserver(() => { $("cmp-before").style.width = `${$("cmp-after").clientWidth}px`; }).observe($("cmp-after"));

$("run").addEventListener("click", async () => {
  resetView();
  $("run").disabled = true;
  $("status").textContent = "Working...";
  const token = $("token").value.trim();
  localStorage.setItem("bgflow-token", token);
  const body = {image_b64: imageDataUri, options: {
    preset: $("preset").value, style: $("style").value, size: Number($("size").value),
    format: $("format").value, seed: Number($("seed").value), on_scene: $("on_scene").value}};
  try {
    const resp = await fetch("/photography/background", {method: "POST",
      headers: Object.assign({"Content-Type": "application/json"}, token ? {Authorization: `Bearer ${token}`} : {}),
      body: JSON.stringify(body)});
    if (!resp.ok) {
      const err = await resp.json().catch(() => ({error: {code: resp.status, message: resp.statusText}}));
      show({step: 0, error: err.error});
      return;
    }
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, {stream: true});
      let nl;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl); buffer = buffer.slice(nl + 1);
        if (line.trim()) show(JSON.parse(line));
      }
    }
  } catch (e) {
    $("status").textContent = `Request failed: ${e}`;
  } finally {
    $("run").disabled = false;
  }
});
