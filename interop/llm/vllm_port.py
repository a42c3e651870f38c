"""A port of vLLM's compressed-tensors scheme selection, to check that vLLM accepts a
config.json qscript writes and picks the expected kernel scheme for every layer.

Followed (read and re-expressed, not copied), vllm-project/vllm:
  vllm/model_executor/layers/quantization/compressed_tensors/compressed_tensors.py
      CompressedTensorsConfig.from_config, _quantization_scheme_map_from_config,
      get_scheme, _get_scheme_from_parts and the _is_* predicates
  vllm/model_executor/layers/quantization/compressed_tensors/utils.py
      is_activation_quantization_format, should_ignore_layer, find_matched_target,
      _find_first_match, _match_fused_layer
  vllm/model_executor/layers/quantization/utils/config_utils.py is_equal_or_regex_match
The GPU capability checks are taken as passing (an sm90 device), except the sm90-only
W4A8-fp8 path, which no preset here reaches.
"""
import re

WNA16_SUPPORTED_BITS = [4, 8]
ACT_FORMATS = ["naive-quantized", "int-quantized", "float-quantized", "nvfp4-pack-quantized"]
# vLLM's Llama packed_modules_mapping
FUSED = {"qkv_proj": ["q_proj", "k_proj", "v_proj"], "gate_up_proj": ["gate_proj", "up_proj"]}


class Args:
    """QuantizationArgs.model_validate, for the fields the selection reads."""
    FIELDS = {"num_bits", "type", "symmetric", "group_size", "strategy", "block_structure",
              "dynamic", "actorder", "observer", "observer_kwargs"}

    def __init__(self, d):
        extra = set(d) - self.FIELDS
        if extra:
            raise ValueError("QuantizationArgs forbids extra fields %s" % sorted(extra))
        self.num_bits = d.get("num_bits", 8)
        self.type = d.get("type", "int")
        self.symmetric = d.get("symmetric", True)
        self.group_size = d.get("group_size")
        self.strategy = d.get("strategy")
        self.dynamic = d.get("dynamic", False)
        self.actorder = d.get("actorder")
        if self.strategy is None:
            self.strategy = "tensor" if self.group_size is None else ("group" if self.group_size > 0 else "channel")
        if self.strategy == "token" and not self.dynamic:
            raise ValueError("static token quantization")
        if self.strategy == "group" and not (self.group_size and self.group_size > 0):
            raise ValueError("group strategy needs group_size")


def is_act_format(fmt):
    return fmt in ACT_FORMATS


def eq_or_regex(value, target, check_contains=False):
    if target.startswith("re:"):
        return re.match(target[3:], value) is not None
    if check_contains:
        return target.lower() in value.lower()
    return target == value


def scheme_map(config):
    out = {}
    qfmt = config.get("format")
    for _, g in config.get("config_groups", {}).items():
        for target in g.get("targets"):
            entry = {"weights": Args(g.get("weights")), "input_activations": None, "format": g.get("format")}
            fmt = entry["format"]
            act = is_act_format(fmt) if fmt is not None else is_act_format(qfmt)
            ia = g.get("input_activations")
            if act or ia:
                if not ia:
                    assert entry["weights"].type == "float", "activation format without input_activations needs float weights"
                else:
                    entry["input_activations"] = Args(ia)
            out[target] = entry
    return out


def matching_patterns(name, patterns):
    """find_matching_patterns: per unfused shard, the patterns that match it."""
    fused = next((k for k in FUSED if name.endswith(k)), None)
    shards = [name] if fused is None else [name[: -len(fused)] + s for s in FUSED[fused]]
    return [[p for p in patterns if eq_or_regex(s, p)] for s in shards]


def should_ignore(name, ignore):
    per = [len(m) > 0 for m in matching_patterns(name, ignore)]
    if any(per) and not all(per):
        raise ValueError("different schemes for the shards of %s" % name)
    return all(per)


def find_matched_target(name, cls, targets):
    for t in targets:
        if eq_or_regex(name, t):
            return t
    fused = next((k for k in FUSED if name.endswith(k)), None)
    if fused is not None:
        matches = []
        for part in FUSED[fused]:
            unfused = name.replace(fused, part)
            matches.append(next((t for t in targets if eq_or_regex(unfused, t)), None))
        if all(matches):
            return matches[0]
    for t in targets:
        if eq_or_regex(cls, t, check_contains=True):
            return t
    raise ValueError("no target matches %s" % name)


def _is_wna16_group_channel(w, i):
    return i is None and w.strategy in ("channel", "group") and not w.dynamic


def _is_fp8_w8a8(w, i):
    if w is None or i is None:
        return False
    if not (w.type == "float" and i.type == "float" and w.symmetric and not w.dynamic
            and w.strategy in ("tensor", "channel", "block")):
        return False
    if i.dynamic:
        return True
    return i.symmetric and i.strategy == "tensor"


def _is_fp8_w8a16(w, i):
    return (w is not None and w.type == "float" and w.symmetric and not w.dynamic
            and w.strategy in ("tensor", "channel", "block"))


def _is_static_tensor_w8a8(w, i):
    return (w.num_bits == i.num_bits == 8 and w.strategy in ("tensor", "channel") and i.strategy == "tensor"
            and w.symmetric and not w.dynamic and not i.dynamic)


def _is_dynamic_token_w8a8(w, i):
    return (w.num_bits == i.num_bits == 8 and w.strategy in ("tensor", "channel") and i.strategy == "token"
            and w.symmetric and not w.dynamic and i.dynamic)


def scheme_from_parts(w, i, fmt):
    """_get_scheme_from_parts: (class name, its arguments)."""
    if _is_wna16_group_channel(w, i):
        if fmt == "pack-quantized" and w.num_bits in WNA16_SUPPORTED_BITS:
            return "CompressedTensorsWNA16", dict(num_bits=w.num_bits, strategy=w.strategy,
                                                   symmetric=w.symmetric, group_size=w.group_size)
    if is_act_format(fmt):
        if _is_fp8_w8a8(w, i):
            return "CompressedTensorsW8A8Fp8", dict(strategy=w.strategy, static_input=bool(i and not i.dynamic))
        if _is_fp8_w8a16(w, i):
            return "CompressedTensorsW8A16Fp8", dict(strategy=w.strategy)
        if i is not None and _is_static_tensor_w8a8(w, i):
            return "CompressedTensorsW8A8Int8", dict(strategy=w.strategy, static_input=True)
        if i is not None and _is_dynamic_token_w8a8(w, i):
            return "CompressedTensorsW8A8Int8", dict(strategy=w.strategy, static_input=False)
    raise NotImplementedError("No compressed-tensors compatible scheme was found.")


def get_scheme(config, name, cls):
    """CompressedTensorsConfig.get_scheme for a LinearBase layer: None when ignored."""
    if should_ignore(name, config.get("ignore", [])):
        return None
    smap = scheme_map(config)
    target = find_matched_target(name, cls, list(smap))
    e = smap[target]
    fmt = e["format"] if e["format"] is not None else config.get("format")
    return scheme_from_parts(e["weights"], e["input_activations"], fmt)


def vllm_llama_layers(num_layers):
    """The LinearBase layers of vLLM's LlamaForCausalLM (lm_head is a ParallelLMHead, which
    the compressed-tensors config never quantizes)."""
    out = []
    for n in range(num_layers):
        p = "model.layers.%d." % n
        out += [(p + "self_attn.qkv_proj", "QKVParallelLinear"), (p + "self_attn.o_proj", "RowParallelLinear"),
                (p + "mlp.gate_up_proj", "MergedColumnParallelLinear"), (p + "mlp.down_proj", "RowParallelLinear")]
    return out
