import pytest

from app.params import MAX_LAYERS, Param, ParamError, Registry, make_registry


def test_values_are_validated_with_a_helpful_message():
    r = make_registry()
    assert r.set("dream", "0.25") == 0.25
    with pytest.raises(ParamError, match=r"dream expects a number from 0 to 1, got 'banana'"):
        r.set("dream", "banana")
    with pytest.raises(ParamError, match="from 0 to 1"):
        r.set("dream", 1.5)
    with pytest.raises(ParamError, match="nan"):
        r.set("dream", "nan")
    assert r["dream"] == 0.25


def test_bools_and_choices_accept_text():
    r = make_registry()
    assert r.set("paused", "on") is True
    assert r.set("paused", "0") is False
    assert r.set("occluder.mode", "inverse") == "inverse"
    assert r.set("occluder.mode", 1) == "blind"      # index, as MIDI/OSC send
    with pytest.raises(ParamError, match="one of off, blind, inverse"):
        r.set("occluder.mode", "sideways")


def test_per_layer_addresses():
    r = make_registry()
    r.set("lesion.up.2", True)
    assert r.layers("lesion.up")[:3] == [False, True, False]
    r.set("lesion.up", True)
    assert all(r.layers("lesion.up"))
    assert len(r.layers("lesion.up")) == MAX_LAYERS
    with pytest.raises(ParamError, match="layer must be 1 to"):
        r.set(f"lesion.up.{MAX_LAYERS + 1}", True)
    with pytest.raises(ParamError, match="not a per-layer parameter"):
        r.set("dream.2", 0.1)


def test_unknown_names_suggest_close_ones():
    with pytest.raises(ParamError, match="did you mean dream"):
        make_registry().apply("drem=1")
    with pytest.raises(ParamError, match="name=value"):
        make_registry().apply("dream")


def test_redeclaring_keeps_compatible_values():
    r = Registry([Param("fb", "float", 1.0, "gain", min=0, max=4)])
    r.set("fb", 3.0)
    r.declare(Param("fb", "float", 1.0, "gain", min=0, max=4))
    assert r["fb"] == 3.0
    r.declare(Param("fb", "float", 1.0, "gain", min=0, max=2))
    assert r["fb"] == 1.0          # 3.0 no longer fits: back to the default


def test_normalized_round_trip_for_controllers():
    p = Param("x", "float", 0.0, "", min=-1, max=3)
    assert p.from_normalized(p.normalized(2.0)) == pytest.approx(2.0)
    c = make_registry().param("view")
    assert c.from_normalized(1.0) == "grid"


def test_snapshot_lists_every_address():
    snap = make_registry().snapshot()
    assert snap["dream"] == 0.0
    assert f"lesion.down.{MAX_LAYERS}" in snap
