"""Regenerates the committed lists: runs every test of ONNX's node, pytorch-converted and pytorch-operator groups
through graphnn's backend adapter (onnx's own runner, data and tolerances), then writes
<suite>_pass.txt (what passes) and <suite>_excluded.txt (each other test with its reason, grouped by family).
A failure no family in REASONS explains is written with its error, and listed at the end for a human to name.

Run: python -m tests.backends.onnx.suites.make_lists [suite ...]   (a few minutes on 2 cores)
"""

from __future__ import annotations

import re
import sys
import unittest
import warnings
from collections import defaultdict

import onnx
import onnx.backend.test

from graphnn.backends.onnx.backend import GraphnnBackend

from . import SUITES, list_path

# family pattern (matched against the test name) -> why graphnn does not pass it; the first match names it
REASONS: dict[str, str] = {
    r"(?i)int16|uint16|uint32|uint64|bfloat16|float8|float4|int4|int2|_string|e4m3|e5m2|complex":
        "element types graphnn lacks",
    # the Attention op's forms graphnn refuses by name (an `_expanded` test is the op's function body: plain ops)
    r"^test_attention(?!.*_expanded$).*(past|present|nonpad|padded_kv|ext_cache)":
        "Attention with a KV cache (past/present, nonpad_kv_seqlen) or a mask shorter than the keys",
    r"^test_attention(?!.*_expanded$).*softcap": "Attention with softcap (graphnn's attention has no logit cap)",
    r"^test_attention(?!.*_expanded$).*qk_matmul": "Attention's qk_matmul output (graphnn returns only Y)",
    r"^test_attention(?!.*_expanded$).*window": "Attention with a sliding window (left/right_window_size)",
    r"^test_attention(?!.*_expanded$).*fp16":
        "float16 Attention (graphnn computes in float16, the reference in float32)",
    r"select_last_index": "ArgMax/ArgMin select_last_index=1 (graphnn picks the first max)",
    r"training_mode|training_dropout|dropout_default_mask|_mask$|_mask_": "training-mode BatchNormalization/"
        "Dropout and a mask that is read",
    r"^test_identity_(opt|sequence)|optional|sequence_|_seq_|^test_loop|^test_if_seq": "optional and sequence "
        "types and Loop (graphnn values are tensors; its loop is gn.scan)",
    r"^test_(nllloss|sce)_.*(weight|_ii)": "class weights and ignore_index of NLL/SoftmaxCrossEntropyLoss",
    r"^test_sce_.*log_prob": "SoftmaxCrossEntropyLoss's second (log_prob) output",
    r"^test_layer_normalization": "LayerNormalization's Mean and InvStdDev outputs",
    r"^test_reduce_(max|min)_(bool_inputs|empty_set)": "max/min of bool tensors or of empty sets",
    r"^test_maxpool_with_argmax": "MaxPool's Indices output (graphnn's max pooling returns values only)",
    r"^test_resize_.*cubic": "Resize mode 'cubic' (graphnn resizes nearest and linear, the modes PyTorch's "
        "Upsample and interpolate export for images)",
    r"^test_resize_.*(antialias|axes_|not_larger|not_smaller)": "Resize antialias, axes and "
        "keep_aspect_ratio_policy (not written by PyTorch's exporters)",
    r"^test_resize_.*(tf_crop_and_resize|half_pixel_symmetric)": "Resize coordinate modes tf_crop_and_resize and "
        "half_pixel_symmetric (TensorFlow's; PyTorch uses asymmetric, half_pixel, pytorch_half_pixel, align_corners)",
    r"^test_(resize_(up|down)sample_scales_(linear|nearest)$|resize_(up|down)sample_scales_linear_align_corners|"
    r"upsample_nearest)": "Resize/Upsample scales fed as a graph input at run time (graphnn fixes output shapes at "
        "build time; exporters write them as constants)",
    r"^test_(constant_pad|center_crop_pad)": "Pad amounts or the constant value fed at run time (graphnn fixes "
        "shapes at build time), and CenterCropPad built on them",
    r"^test_wrap_pad": "Pad mode 'wrap' (graphnn pads constant, reflect and edge, the modes PyTorch exports)",
    r"^test_linear_attention_.*_expanded": "LinearAttention's function bodies (onnx 1.23 preview op) feed a (1,) "
        "ScaleFactor where the function declares a scalar",
}
# error pattern -> family, for failures the name does not place
ERROR_REASONS: dict[str, str] = {
    r"element type \w+ is not one graphnn supports": "element types graphnn lacks",
    r"only tensor types are supported": "optional and sequence types, Loop and Scan (graphnn values are tensors; "
        "scan arrives with the recurrence work)",
    r"\(Pad\).*(constant_value|pads) \(": "Pad amounts or the constant value computed at run time (graphnn fixes "
        "shapes at build time); here inside Attention's expanded function body",
    r"max_pool2d: x must be floating point": "MaxPool of integer tensors (graphnn pools floats)",
    r"graphnn evaluates Mod only at import": "Mod of run-time tensors (being added by the pool-ops work)",
    r"\(Range\).*must be a constant": "Range over float bounds fed at run time (graphnn needs static lengths)",
}
# unsupported-op messages are grouped by the op: "missing op <OpType>"
_MISSING = re.compile(r"use ops graphnn cannot express: (.*?)(?: \||$)")
def run_suite(kind: str) -> dict[str, tuple[bool, str]]:
    """Test name -> (passed, the error's last line), running each of onnx's generated test methods for the group
    (with its own data and tolerances) through graphnn's adapter."""
    bt = onnx.backend.test.BackendTest(GraphnnBackend, "graphnn_lists")
    cls = bt.test_cases[f"OnnxBackend{kind}ModelTest"]
    out: dict[str, tuple[bool, str]] = {}
    for attr in sorted(a for a in vars(cls) if a.startswith("test_") and a.endswith("_cpu")):
        result = unittest.TestResult()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cls(attr).run(result)
        problems = result.failures + result.errors
        lines = problems[0][1].strip().splitlines() if problems else []
        skipped = [why for _, why in result.skipped]
        out[attr[: -len("_cpu")]] = (not problems and not skipped, (lines[-1] if lines else "skipped: " +
                                                                      "; ".join(skipped)).strip())
    return out


def reason(name: str, error: str) -> str:
    """The named family a failing test belongs to."""
    for pat, why in REASONS.items():
        if re.search(pat, name):
            return why
    for pat, why in ERROR_REASONS.items():
        if re.search(pat, error):
            return why
    m = _MISSING.search(error)
    if m:
        ops = sorted({part.split(" (")[0] for part in m.group(1).split(", ")})
        return "missing op " + ", ".join(ops)
    return "UNEXPLAINED: " + error[:160]


def write(suite: str, results: dict[str, tuple[bool, str]]) -> list[str]:
    """Write the two lists; return the unexplained failures."""
    head = f"# onnx {onnx.__version__}, {suite}: made by tests/backends/onnx/suites/make_lists.py\n"
    passed = sorted(n for n, (ok, _) in results.items() if ok)
    with open(list_path(suite, "pass"), "w") as f:
        f.write(head + "".join(f"{n}\n" for n in passed))
    groups: dict[str, list[str]] = defaultdict(list)
    for n, (ok, err) in results.items():
        if not ok:
            groups[reason(n, err)].append(n)
    with open(list_path(suite, "excluded"), "w") as f:
        f.write(head)
        for why in sorted(groups):
            f.write(f"\n# {why} ({len(groups[why])})\n" + "".join(f"{n}  # {why}\n" for n in sorted(groups[why])))
    print(f"{suite}: {len(passed)} pass, {len(results) - len(passed)} excluded of {len(results)}")
    return [n for why, names in groups.items() if why.startswith("UNEXPLAINED") for n in names]


def main(argv: list[str]) -> None:
    unexplained = []
    for suite in argv or list(SUITES):
        unexplained += write(suite, run_suite(SUITES[suite]))
    if unexplained:
        print(f"{len(unexplained)} failure(s) with no named family (see the UNEXPLAINED lines): {unexplained[:20]}")


if __name__ == "__main__":
    main(sys.argv[1:])
