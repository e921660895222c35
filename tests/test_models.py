"""The zoo's registration and its one preset builder (cnnvit_ref.models)."""
import pytest

from cnnvit_ref import models


@pytest.mark.parametrize(
    "name, config",
    [
        ("resnet50", "ResNetConfig"),
        ("mobilenet_v1", "MobileNetV1Config"),
        ("vit_base_patch16_224", "ViTConfig"),
        ("swin_tiny_patch4_window7_224", "SwinConfig"),
    ],
)
def test_every_family_rejects_an_unknown_preset_argument_the_same_way(name, config):
    with pytest.raises(TypeError, match=rf"^{name}\(\): unknown argument\(s\) \['depthh'\]; the {config} fields are \["):
        models.create(name, depthh=3)


def test_aliases_resolve_to_the_timm_names():
    assert models.resolve_name("swin_t") == "swin_tiny_patch4_window7_224"
    assert models.resolve_name("deit_s") == "deit_small_patch16_224"
    assert models.resolve_name("resnet50") == "resnet50"


def test_unknown_name_lists_the_zoo():
    with pytest.raises(ValueError, match=r"create\(\): unknown model name 'resnet51'; available: .*resnet50"):
        models.create("resnet51")


def test_a_missing_family_module_is_loud(monkeypatch):
    def families():
        from cnnvit_ref import no_such_family  # noqa: F401

    monkeypatch.setattr(models, "_families", families)
    monkeypatch.setattr(models, "_REGISTRY", {})
    with pytest.raises(ImportError, match="no_such_family"):
        models.list_models()


def test_the_zoo_holds_the_presets_of_every_chapter():
    names = set(models.list_models())
    assert {"resnet50", "seresnet50", "mobilenet_v1", "vit_base_patch16_224", "deit_tiny_patch16_224",
            "swin_base_patch4_window7_224", "vit_tiny_patch4_32", "swin_tiny_patch2_window4_32"} <= names
