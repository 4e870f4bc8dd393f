"""hls4ml-style configuration: strategies, resolution precedence, files, config_from_keras_model goldens."""

from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from hls_opt.config import (
    DEFAULT_PRECISION,
    IOType,
    LayerConfig,
    Strategy,
    dump_config_yaml,
    load_config,
    parse_io_type,
    parse_strategy,
    resolve_layer_config,
    save_config,
    unwrap_hls_config,
)
from hls_opt.core.precision import AUTO, Precision, parse_precision
from hls_opt.errors import ConfigError, PrecisionError

HERE = Path(__file__).resolve().parent


def fx(width: int, integer: int) -> Precision:
    return Precision(width, integer)


# ------------------------------------------------------------------------------------------
# Strategy and IO type
# ------------------------------------------------------------------------------------------

STRATEGY_SPELLINGS = {
    # hls4ml's own normalisations (utils/string_utils.py convert_to_snake_case; vivado_backend.py)
    "Latency": Strategy.LATENCY,
    "latency": Strategy.LATENCY,
    "Resource": Strategy.RESOURCE,
    "resource": Strategy.RESOURCE,
    "ResourceUnrolled": Strategy.RESOURCE_UNROLLED,
    "resource_unrolled": Strategy.RESOURCE_UNROLLED,
    "Resource_Unrolled": Strategy.RESOURCE_UNROLLED,
    "DistributedArithmetic": Strategy.DISTRIBUTED_ARITHMETIC,
    "distributed_arithmetic": Strategy.DISTRIBUTED_ARITHMETIC,
    "da": Strategy.DISTRIBUTED_ARITHMETIC,
    # the seed's spelling, an alias
    "Unrolled": Strategy.RESOURCE_UNROLLED,
    "unrolled": Strategy.RESOURCE_UNROLLED,
    # spellings hls4ml silently turns into Latency; we read what the user meant
    "RESOURCE": Strategy.RESOURCE,
    "LATENCY": Strategy.LATENCY,
    "DA": Strategy.DISTRIBUTED_ARITHMETIC,
    "RESOURCE_UNROLLED": Strategy.RESOURCE_UNROLLED,
    " Resource ": Strategy.RESOURCE,
}


@pytest.mark.parametrize("text", sorted(STRATEGY_SPELLINGS))
def test_strategy_spellings(text):
    assert parse_strategy(text) is STRATEGY_SPELLINGS[text]


def test_strategy_values_are_hls4ml_spellings():
    # What we write back is what hls4ml understands (Unrolled is never written).
    assert [s.value for s in Strategy] == ["Latency", "Resource", "ResourceUnrolled", "DistributedArithmetic"]
    assert parse_strategy(Strategy.RESOURCE) is Strategy.RESOURCE


@pytest.mark.parametrize("text", ["Fast", "", "Resource Unrolled", "compressed", "lat"])
def test_unknown_strategy_names_the_key(text):
    with pytest.raises(ConfigError, match=r"^LayerName\.d\.Strategy: unknown strategy"):
        parse_strategy(text, key="LayerName.d.Strategy")


def test_strategy_not_a_string():
    # parse_enum's one message for every enum: the key, the value, the spellings it takes
    with pytest.raises(ConfigError, match=r"^Strategy: unknown strategy 3 \(expected one of 'Latency', "):
        parse_strategy(3)  # type: ignore[arg-type]


def test_strategy_logging(caplog):
    caplog.set_level(logging.INFO, logger="hls_opt.config")
    parse_strategy("Unrolled", key="test_logging.A")
    parse_strategy("RESOURCE", key="test_logging.B")
    parse_strategy("Resource", key="test_logging.C")  # hls4ml reads this one right: nothing to say
    records = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert any(
        level == logging.INFO and "test_logging.A" in msg and "ResourceUnrolled" in msg
        for level, msg in records
    )
    assert any(
        level == logging.WARNING and "test_logging.B" in msg and "Latency" in msg for level, msg in records
    )
    assert not any("test_logging.C" in msg for _, msg in records)
    # said once per key and spelling, not once per layer
    caplog.clear()
    parse_strategy("RESOURCE", key="test_logging.B")
    assert not caplog.records


@pytest.mark.parametrize(
    "text, expected",
    [
        ("io_parallel", IOType.PARALLEL),
        ("io_stream", IOType.STREAM),
        ("IO_Stream", IOType.STREAM),
        (IOType.STREAM, IOType.STREAM),
    ],
)
def test_io_type(text, expected):
    assert parse_io_type(text) is expected


@pytest.mark.parametrize("text", ["stream", "io_serial", "", None, 1])
def test_bad_io_type(text):
    with pytest.raises(ConfigError, match=r"^IOType: unknown IO type"):
        parse_io_type(text)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------
# Resolution
# ------------------------------------------------------------------------------------------


def test_none_gives_hls4ml_defaults():
    cfg = resolve_layer_config(None, "dense", "Dense")
    assert cfg == LayerConfig(
        weight=fx(16, 6),
        bias=fx(16, 6),
        result=fx(16, 6),
        accum=fx(16, 6),
        reuse_factor=1,
        strategy=Strategy.LATENCY,
        io_type=IOType.PARALLEL,
        parallelization_factor=1,
    )
    assert DEFAULT_PRECISION == fx(16, 6)
    assert resolve_layer_config({}, "dense", "Dense") == cfg


# A config with a distinct width at every level, so each resolved width says where it came from.
#   Model default 8, Model weight 9, Model accum 30
#   LayerType Dense: default 10, weight 11        LayerType Conv2D: string 12 (= its default)
#   LayerName d1: weight 13                       LayerName d2: string 14 (= its default)
#   LayerName d3: result 15, bias auto
PRECEDENCE_CONFIG = {
    "Model": {
        "Precision": {"default": "ap_fixed<8,3>", "weight": "ap_fixed<9,3>", "accum": "ap_fixed<30,10>"}
    },
    "LayerType": {
        "Dense": {"Precision": {"default": "ap_fixed<10,3>", "weight": "ap_fixed<11,3>"}},
        "Conv2D": {"Precision": "ap_fixed<12,3>"},
    },
    "LayerName": {
        "d1": {"Precision": {"weight": "ap_fixed<13,3>"}},
        "d2": {"Precision": "ap_fixed<14,3>"},
        "d3": {"Precision": {"result": "ap_fixed<15,3>", "bias": "auto"}},
    },
}

# (layer name, class) -> expected widths of (weight, bias, result, accum), with the reason
PRECEDENCE_TABLE = [
    # d1 Dense: weight from LayerName (13); others: no name default -> LayerType Dense default (10),
    # which beats Model[accum] (hls4ml checks type default before model[v]).
    (("d1", "Dense"), (13, 10, 10, 10)),
    # d2 Dense: LayerName Precision string = name default -> 14 for every variable, beating LayerType[weight].
    (("d2", "Dense"), (14, 14, 14, 14)),
    # d3 Dense: result 15 from LayerName; bias 'auto' falls through to type default 10;
    # weight -> LayerType[weight] 11 (before the type default); accum -> type default 10.
    (("d3", "Dense"), (11, 10, 15, 10)),
    # other Dense: LayerType[weight] 11, else LayerType default 10.
    (("other", "Dense"), (11, 10, 10, 10)),
    # Conv2D: LayerType string 12 for everything.
    (("c", "Conv2D"), (12, 12, 12, 12)),
    # a class with no LayerType entry: Model[weight] 9, Model[accum] 30, else Model default 8.
    (("bn", "BatchNormalization"), (9, 8, 8, 30)),
]


@pytest.mark.parametrize(
    "layer, widths", PRECEDENCE_TABLE, ids=[f"{n}-{c}" for (n, c), _ in PRECEDENCE_TABLE]
)
def test_precision_precedence(layer, widths):
    cfg = resolve_layer_config(PRECEDENCE_CONFIG, *layer)
    assert (cfg.weight.width, cfg.bias.width, cfg.result.width, cfg.accum.width) == widths


def test_names_and_types_match_ignoring_case():
    # hls4ml lower-cases both sides (graph.py: layer.name.lower(), layer_type.lower()).
    config = {"LayerType": {"dense": {"ReuseFactor": 2}}, "LayerName": {"Dense_1": {"Strategy": "Resource"}}}
    cfg = resolve_layer_config(config, "dense_1", "Dense")
    assert (cfg.reuse_factor, cfg.strategy) == (2, Strategy.RESOURCE)


def test_entries_differing_in_case_merge_later_wins():
    # hls4ml stores per-variable values in flat lower-cased dicts, so such entries merge.
    config = {
        "LayerName": {
            "D": {"Precision": {"weight": "ap_fixed<5,2>", "bias": "ap_fixed<6,2>"}},
            "d": {"Precision": {"bias": "ap_fixed<7,2>"}},
        }
    }
    cfg = resolve_layer_config(config, "d", "Dense")
    # merged key by key: weight only in "D" (ap_fixed<5,2>), bias from the later "d" (ap_fixed<7,2>)
    assert (cfg.weight.width, cfg.bias.width) == (5, 7)


def test_model_precision_as_string_and_auto_chain(caplog):
    caplog.set_level(logging.DEBUG, logger="hls_opt.config")
    config = {
        "Model": {"Precision": "ap_fixed<18,8>"},
        "LayerType": {"Dense": {"Precision": {"weight": "auto", "default": "auto"}}},
        "LayerName": {"d": {"Precision": {"weight": "auto", "result": "auto"}}},
    }
    cfg = resolve_layer_config(config, "d", "Dense")
    # every candidate is 'auto' until the Model default
    assert cfg.weight == cfg.result == cfg.bias == cfg.accum == fx(18, 8)
    assert any(
        "LayerName.d.Precision.weight" in r.getMessage() and "Model.Precision" in r.getMessage()
        for r in caplog.records
    )


def test_all_auto_falls_back_to_hls4ml_default():
    config = {"Model": {"Precision": {"default": "auto"}}}
    assert resolve_layer_config(config, "d", "Dense").weight == DEFAULT_PRECISION


def test_config_from_keras_model_layout_resolves_to_model_default():
    # What config_from_keras_model(granularity='name') writes: 'auto' everywhere below Model.
    config = {
        "Model": {"Precision": {"default": "ap_fixed<10,4>"}, "ReuseFactor": 1, "Strategy": "Latency"},
        "LayerName": {
            "d": {
                "Precision": {"result": "auto", "weight": "auto", "bias": "auto", "accum": "auto"},
                "ReuseFactor": 1,
            }
        },
    }
    cfg = resolve_layer_config(config, "d", "Dense")
    assert {cfg.weight, cfg.bias, cfg.result, cfg.accum} == {fx(10, 4)}


def test_reuse_factor_strategy_parallelization_precedence():
    config = {
        "Model": {"ReuseFactor": 2, "Strategy": "Resource", "ParallelizationFactor": 5},
        "IOType": "io_stream",
        "LayerType": {"Conv2D": {"ReuseFactor": 3, "ParallelizationFactor": 4}},
        "LayerName": {"c1": {"ReuseFactor": 9, "Strategy": "Unrolled", "ParallelizationFactor": 2}},
    }
    # c1: everything from LayerName
    c1 = resolve_layer_config(config, "c1", "Conv2D")
    assert (c1.reuse_factor, c1.strategy, c1.parallelization_factor, c1.io_type) == (
        9,
        Strategy.RESOURCE_UNROLLED,
        2,
        IOType.STREAM,
    )
    # c2: RF and PF from LayerType, Strategy from Model
    c2 = resolve_layer_config(config, "c2", "Conv2D")
    assert (c2.reuse_factor, c2.strategy, c2.parallelization_factor) == (3, Strategy.RESOURCE, 4)
    # a Dense: RF and Strategy from Model; PF not taken from Model (hls4ml reads it per layer only)
    d = resolve_layer_config(config, "d", "Dense")
    assert (d.reuse_factor, d.strategy, d.parallelization_factor, d.io_type) == (
        2,
        Strategy.RESOURCE,
        1,
        IOType.STREAM,
    )


def test_hlsconfig_wrapped_form():
    wrapped = {
        "KerasModel": "model.keras",
        "OutputDir": "prj",
        "IOType": "io_stream",
        "HLSConfig": {"Model": {"Precision": "ap_fixed<8,2>", "ReuseFactor": 4}},
    }
    cfg = resolve_layer_config(wrapped, "d", "Dense")
    assert (cfg.weight, cfg.reuse_factor, cfg.io_type) == (fx(8, 2), 4, IOType.STREAM)
    assert unwrap_hls_config(wrapped) == {
        "Model": {"Precision": "ap_fixed<8,2>", "ReuseFactor": 4},
        "IOType": "io_stream",
    }


def test_resolution_does_not_mutate_the_config():
    config = json.loads(json.dumps(PRECEDENCE_CONFIG))
    resolve_layer_config(config, "d3", "Dense")
    assert config == PRECEDENCE_CONFIG


BAD_CONFIGS = [
    (
        {"LayerName": {"dense_1": {"Precision": {"weight": "ap_fixed<abc>"}}}},
        PrecisionError,
        r"^LayerName\.dense_1\.Precision\.weight: cannot parse 'ap_fixed<abc>'",
    ),
    (
        {"LayerName": {"dense_1": {"Precision": "ap_fixed<16"}}},
        PrecisionError,
        r"^LayerName\.dense_1\.Precision: cannot parse 'ap_fixed<16'",
    ),
    (
        {"Model": {"Precision": {"default": "float"}}},
        PrecisionError,
        r"^Model\.Precision\.default: cannot parse 'float' \(floating-point",
    ),
    (
        {"LayerType": {"Dense": {"Precision": {"result": "foo<8>"}}}},
        PrecisionError,
        r"^LayerType\.Dense\.Precision\.result: cannot parse 'foo<8>'",
    ),
    (
        {"LayerName": {"dense_1": {"ReuseFactor": 0}}},
        ConfigError,
        r"^LayerName\.dense_1\.ReuseFactor: expected a positive integer, got 0",
    ),
    (
        {"LayerName": {"dense_1": {"ReuseFactor": 2.5}}},
        ConfigError,
        r"^LayerName\.dense_1\.ReuseFactor: expected a positive integer, got 2\.5",
    ),
    (
        {"LayerType": {"Dense": {"ReuseFactor": "four"}}},
        ConfigError,
        r"^LayerType\.Dense\.ReuseFactor: expected a positive integer, got 'four'",
    ),
    (
        {"Model": {"ReuseFactor": True}},
        ConfigError,
        r"^Model\.ReuseFactor: expected a positive integer, got True",
    ),
    ({"Model": {"ReuseFactor": -2}}, ConfigError, r"^Model\.ReuseFactor: expected a positive integer"),
    (
        {"LayerName": {"dense_1": {"Strategy": "Fastest"}}},
        ConfigError,
        r"^LayerName\.dense_1\.Strategy: unknown strategy 'Fastest'",
    ),
    (
        {"LayerName": {"dense_1": {"ParallelizationFactor": 0}}},
        ConfigError,
        r"^LayerName\.dense_1\.ParallelizationFactor: expected a positive integer",
    ),
    ({"IOType": "io_fast"}, ConfigError, r"^IOType: unknown IO type 'io_fast'"),
    ({"Model": "Latency"}, ConfigError, r"^Model: expected a mapping, got str"),
    ({"LayerName": ["dense_1"]}, ConfigError, r"^LayerName: expected a mapping, got list"),
    ({"LayerName": {"dense_1": 4}}, ConfigError, r"^LayerName\.dense_1: expected a mapping, got int"),
]


@pytest.mark.parametrize("config, error, pattern", BAD_CONFIGS, ids=[p for _, _, p in BAD_CONFIGS])
def test_bad_values_name_the_key_path(config, error, pattern):
    with pytest.raises(error, match=pattern):
        resolve_layer_config(config, "dense_1", "Dense")


def test_hls_config_not_a_mapping():
    with pytest.raises(ConfigError, match="^hls_config: expected a mapping or None, got list"):
        resolve_layer_config([], "d", "Dense")  # type: ignore[arg-type]


def test_shadowed_bad_values_are_not_consulted():
    # Like hls4ml, a value hidden behind a higher-precedence one is never parsed.
    config = {
        "Model": {"Precision": "ap_fixed<nope>", "ReuseFactor": "x"},
        "LayerName": {"d": {"Precision": "ap_fixed<8,3>", "ReuseFactor": 2}},
    }
    cfg = resolve_layer_config(config, "d", "Dense")
    assert (cfg.weight, cfg.reuse_factor) == (fx(8, 3), 2)
    with pytest.raises(PrecisionError, match=r"^Model\.Precision: cannot parse"):
        resolve_layer_config(config, "other", "Dense")


def test_reuse_factor_integral_forms():
    assert resolve_layer_config({"Model": {"ReuseFactor": 4.0}}, "d", "Dense").reuse_factor == 4
    assert resolve_layer_config({"Model": {"ReuseFactor": "8"}}, "d", "Dense").reuse_factor == 8
    # A config filled in by code often holds numpy integers (e.g. an RF from np.argmin over a
    # sweep); np.int64(4) is an integer like 4 (hls4ml takes it), not "not a positive integer".
    config = {
        "Model": {"ReuseFactor": np.int64(4)},
        "LayerName": {"c": {"ParallelizationFactor": np.int32(2)}},
    }
    resolved = resolve_layer_config(config, "c", "Conv2D")
    assert (resolved.reuse_factor, resolved.parallelization_factor) == (4, 2)
    assert type(resolved.reuse_factor) is int
    from hls_opt.config import validate_config

    validate_config(config)


HLS4ML_ORACLE_CONFIGS = [
    PRECEDENCE_CONFIG | {"Model": PRECEDENCE_CONFIG["Model"] | {"ReuseFactor": 1}},
    {
        "Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 2, "Strategy": "Resource"},
        "LayerType": {"dense": {"Precision": {"accum": "ap_fixed<24,10>"}, "Strategy": "latency"}},
        "LayerName": {
            "D1": {"Precision": {"weight": "ap_int<4>"}, "ReuseFactor": 8, "Strategy": "Resource_Unrolled"},
            "d2": {"Precision": "ac_fixed<10,2,false>", "ReuseFactor": 4},
            "c1": {"Strategy": "DistributedArithmetic"},
        },
    },
]
ORACLE_LAYERS = [
    ("d1", "Dense"),
    ("d2", "Dense"),
    ("d3", "Dense"),
    ("c1", "Conv2D"),
    ("bn", "BatchNormalization"),
]


@pytest.mark.hls4ml
@pytest.mark.parametrize("index", range(len(HLS4ML_ORACLE_CONFIGS)))
def test_resolution_agrees_with_hls4ml(index):
    """hls4ml's own HLSConfig as the oracle (except for 'auto', which hls4ml infers instead)."""
    graph = pytest.importorskip("hls4ml.model.graph", reason="hls4ml not installed")
    config = HLS4ML_ORACLE_CONFIGS[index]
    theirs = graph.HLSConfig({"HLSConfig": config, "Backend": "Vivado"})
    snake = {
        Strategy.LATENCY: "latency",
        Strategy.RESOURCE: "resource",
        Strategy.RESOURCE_UNROLLED: "resource_unrolled",
        Strategy.DISTRIBUTED_ARITHMETIC: "distributed_arithmetic",
    }
    for name, cls in ORACLE_LAYERS:
        layer = SimpleNamespace(name=name, class_name=cls)
        ours = resolve_layer_config(config, name, cls)
        for variable in ("weight", "bias", "result", "accum"):
            their_precision, _ = theirs.get_precision(layer, variable)
            if type(their_precision).__name__ == "UnspecifiedPrecisionType":
                continue  # 'auto': hls4ml infers it later; ours is tested in test_precision_precedence
            assert str(getattr(ours, variable)) == str(their_precision), (name, variable)
        assert ours.reuse_factor == theirs.get_reuse_factor(layer), name
        assert snake[ours.strategy] == theirs.get_strategy(layer), name


# ------------------------------------------------------------------------------------------
# Files
# ------------------------------------------------------------------------------------------

SAMPLE = {
    "Model": {
        "Precision": {"default": "ap_fixed<16,6>"},
        "ReuseFactor": 1,
        "Strategy": "Latency",
        "BramFactor": 1_000_000_000,
        "TraceOutput": False,
    },
    "IOType": "io_parallel",
    "LayerName": {
        "dense_1": {
            "Precision": {"weight": "ap_fixed<8,3>", "result": "auto"},
            "ReuseFactor": 4,
            "Strategy": "ResourceUnrolled",
        }
    },
}


@pytest.mark.parametrize("suffix", [".yml", ".yaml", ".json"])
def test_save_load_round_trip(tmp_path, suffix):
    path = tmp_path / f"config{suffix}"
    save_config(SAMPLE, path)
    assert load_config(path) == SAMPLE
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind


def test_save_writes_enums_and_precisions_as_hls4ml_strings(tmp_path):
    config = {
        "Model": {"Strategy": Strategy.RESOURCE_UNROLLED, "Precision": parse_precision("ap_fixed<8,3>")},
        "IOType": IOType.STREAM,
        "LayerName": {"d": {"Precision": {"result": AUTO}}},
    }
    save_config(config, tmp_path / "c.yml")
    assert load_config(tmp_path / "c.yml") == {
        "Model": {"Strategy": "ResourceUnrolled", "Precision": "fixed<8,3,TRN,WRAP,0>"},
        "IOType": "io_stream",
        "LayerName": {"d": {"Precision": {"result": "auto"}}},
    }


def test_dump_yaml_keeps_key_order():
    text = dump_config_yaml(SAMPLE)
    assert text.index("Model:") < text.index("IOType:") < text.index("LayerName:")
    assert "ReuseFactor: 4" in text and "{" not in text  # block style


def test_load_hls4ml_project_file_layout(tmp_path):
    path = tmp_path / "hls4ml_project.yml"
    path.write_text(
        "KerasModel: model.keras\nOutputDir: my-prj\nIOType: io_stream\nBackend: Vivado\n"
        "HLSConfig:\n  Model:\n    Precision: ap_fixed<16,6>\n    ReuseFactor: 2\n"
    )
    assert load_config(path) == {
        "Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 2},
        "IOType": "io_stream",
    }


@pytest.mark.parametrize(
    "name, content, fragment",
    [
        ("missing.yml", None, "no such file"),
        ("bad.yml", "Model: [1, 2\n", "not valid YAML (line"),
        ("bad.json", '{"Model": }', "not valid JSON (line 1"),
        ("list.yml", "- 1\n- 2\n", "expected a mapping of hls4ml settings at the top level, got list"),
        ("empty.yml", "", "got an empty file"),
        ("scalar.yml", "hello\n", "got str"),
    ],
)
def test_load_errors_name_the_file_in_one_line(tmp_path, name, content, fragment):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and fragment in message
    assert "\n" not in message


def test_load_directory(tmp_path):
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)


def test_save_failure_keeps_old_file(tmp_path):
    path = tmp_path / "c.yml"
    save_config(SAMPLE, path)
    before = path.read_text()
    with pytest.raises(ConfigError, match="cannot write a value of type object"):
        save_config({"Model": {"x": object()}}, path)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.yml"]


# ------------------------------------------------------------------------------------------
# config_from_keras_model vs hls4ml's goldens (tests/golden, made by tests/_make_golden.py)
# ------------------------------------------------------------------------------------------


def _golden_module():
    spec = importlib.util.spec_from_file_location("_make_golden", HERE / "_make_golden.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GOLDEN = _golden_module()


@pytest.fixture(scope="module")
def golden_models():
    return {name: build() for name, build in GOLDEN.MODELS.items()}


@pytest.mark.parametrize("case", GOLDEN.CASES, ids=[name for name, _, _ in GOLDEN.CASES])
def test_config_from_keras_model_matches_hls4ml_golden(golden_models, case):
    from hls_opt.config import config_from_keras_model

    name, model_name, kwargs = case
    expected = json.loads(GOLDEN.golden_path(name).read_text())
    ours = config_from_keras_model(golden_models[model_name], **kwargs)
    assert ours == expected
    # same key order too (a user diffing YAML files sees the same layout)
    assert json.dumps(ours) == json.dumps(expected)


def test_config_from_keras_model_default_resolves_like_hls4ml_defaults(golden_models):
    from hls_opt.config import config_from_keras_model

    config = config_from_keras_model(golden_models["mlp"], granularity="name", backend="Vivado")
    cfg = resolve_layer_config(config, "dense_1", "Dense")
    assert cfg == resolve_layer_config(None, "dense_1", "Dense")


def test_config_from_keras_model_argument_errors(golden_models):
    from hls_opt.config import config_from_keras_model

    model = golden_models["mlp"]
    with pytest.raises(ConfigError, match="^granularity: expected 'model', 'type' or 'name', got 'layer'"):
        config_from_keras_model(model, granularity="layer")
    with pytest.raises(ConfigError, match="^backend: 'Quartus' is not supported"):
        config_from_keras_model(model, backend="Quartus")
    with pytest.raises(ConfigError, match="^default_precision: 'auto' is not allowed"):
        config_from_keras_model(model, default_precision="auto")
    with pytest.raises(PrecisionError, match="^max_precision: cannot parse 'big'"):
        config_from_keras_model(model, max_precision="big")
    with pytest.raises(ConfigError, match="^default_reuse_factor: expected a positive integer, got 0"):
        config_from_keras_model(model, default_reuse_factor=0)
    with pytest.raises(TypeError, match="expected a keras.Model, got dict"):
        config_from_keras_model({"layers": []})


def test_config_from_keras_model_unknown_layer_gets_minimal_entry(caplog):
    import keras

    from hls_opt.config import config_from_keras_model

    inputs = keras.Input((4,), name="x")
    outputs = keras.layers.Lambda(lambda t: t * 2, name="double")(inputs)
    model = keras.Model(inputs, outputs)
    with caplog.at_level(logging.WARNING, logger="hls_opt.config"):
        config = config_from_keras_model(model, granularity="name", backend="Vivado")
    # hls4ml 1.3 raises here; we keep going with the fields every hls4ml layer has
    assert config["LayerName"]["double"] == {"Trace": False, "Precision": {"result": "auto"}}
    assert any("double" in r.getMessage() and "Lambda" in r.getMessage() for r in caplog.records)


def test_hls4ml_layers_split_activations(golden_models):
    from hls_opt.config import hls4ml_layer_class, hls4ml_layers

    cnn = golden_models["cnn2d"]
    assert hls4ml_layers(cnn.get_layer("conv")) == [("conv", "Conv2D"), ("conv_relu", "Activation")]
    assert hls4ml_layers(cnn.get_layer("branch_b")) == [
        ("branch_b", "Dense"),
        ("branch_b_softmax", "Softmax"),
    ]
    assert hls4ml_layer_class(cnn.get_layer("relu")) == "ThresholdedReLU"  # hls4ml 1.3's reading of ReLU()
    assert hls4ml_layer_class(cnn.get_layer("flatten")) == "Reshape"
    assert hls4ml_layer_class(cnn.get_layer("drop")) == "Activation"
    assert hls4ml_layer_class(cnn.get_layer("add")) == "Merge"


# ------------------------------------------------------------------------------------------
# validate_config: every entry, without a model
# ------------------------------------------------------------------------------------------


def test_validate_accepts_good_configs():
    from hls_opt.config import validate_config

    validate_config(None)
    validate_config(SAMPLE)
    validate_config(PRECEDENCE_CONFIG)
    # activation tables may be anything hls4ml accepts, floats included
    validate_config({"LayerName": {"sm": {"Precision": {"table": "float", "result": "auto"}}}})


@pytest.mark.parametrize("config, error, pattern", BAD_CONFIGS, ids=[p for _, _, p in BAD_CONFIGS])
def test_validate_finds_what_resolution_finds(config, error, pattern):
    from hls_opt.config import validate_config

    with pytest.raises(error, match=pattern):
        validate_config(config)


def test_validate_checks_entries_no_layer_would_consult():
    from hls_opt.config import validate_config

    # resolution never reads Model.Precision here (shadowed), validation still reports it
    config = {"Model": {"Precision": "ap_fixed<nope>"}, "LayerName": {"d": {"Precision": "ap_fixed<8,3>"}}}
    with pytest.raises(PrecisionError, match=r"^cfg\.yml: Model\.Precision: cannot parse 'ap_fixed<nope>'"):
        validate_config(config, source="cfg.yml")
    with pytest.raises(
        ConfigError, match=r"^LayerName\.d\.Precision\.table: expected a precision string, got 3"
    ):
        validate_config({"LayerName": {"d": {"Precision": {"table": 3}}}})
