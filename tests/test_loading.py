"""Model sources: folder, single file (SD 1.x and SDXL), hub id offline, embedded; bad files; caching."""

import gc
import weakref

import pytest
import torch

from sdlab.engine.formats import FileFormat, detect_format
from sdlab.engine.loading import ModelCache
from sdlab.engine.single_file import save_single_file
from sdlab.engine.sources import Family, folder_family
from sdlab.errors import ModelLoadError
from sdlab.requests import build_request


def tiny(engine, model, **kw):
    return engine.generate(build_request(prompt="a red circle", model=str(model), steps=2, width=32, height=32, seed=1, **kw))


def test_family_is_read_from_the_files(sd1_dir, sdxl_dir, sd1_inpaint_dir):
    assert folder_family(sd1_dir) == (Family.sd1, False)
    assert folder_family(sdxl_dir) == (Family.sdxl, False)
    assert folder_family(sd1_inpaint_dir) == (Family.sd1, True)


@pytest.mark.parametrize("fixture", ["sd1_dir", "sdxl_dir"])
def test_single_file_round_trip_gives_the_same_image(request, engine, fixture, tmp_path):
    folder = request.getfixturevalue(fixture)
    from_folder = tiny(engine, folder).images[0].image
    path = save_single_file(engine.models.get(str(folder)).pipe, tmp_path / "model.bin")  # extension is irrelevant
    assert detect_format(path) is FileFormat.safetensors
    result = tiny(engine, path, config=str(folder))
    assert list(result.images[0].image.getdata()) == list(from_folder.getdata())
    assert result.resolved.model_hash and len(result.resolved.model_hash) == 10


def test_single_file_offline_without_config_says_how(engine, sd1_dir, tmp_path):
    path = save_single_file(engine.models.get(str(sd1_dir)).pipe, tmp_path / "m.safetensors")
    with pytest.raises(ModelLoadError, match="local diffusers folder") as info:
        tiny(engine, path)
    assert info.value.fix.option == "config"  # the CLI offers it as --config


def test_pickle_is_refused_unless_allowed(engine, sd1_dir, tmp_path):
    from sdlab.engine.single_file import pipeline_tensors

    path = tmp_path / "model.safetensors"  # a pickle in disguise: the bytes decide, not the name
    torch.save({"state_dict": pipeline_tensors(engine.models.get(str(sd1_dir)).pipe)}, path)
    assert detect_format(path) is FileFormat.torch_zip
    with pytest.raises(ModelLoadError, match="pickle file, which can run code") as info:
        tiny(engine, path, config=str(sd1_dir))
    assert info.value.fix.option == "allow_pickle"
    result = tiny(engine, path, config=str(sd1_dir), allow_pickle=True)
    assert result.images[0].image.size == (32, 32)


def test_corrupt_safetensors_is_reported(engine, tmp_path):
    path = tmp_path / "broken.safetensors"
    path.write_bytes((1000).to_bytes(8, "little") + b'{"a": 1')
    with pytest.raises(ModelLoadError, match="corrupt"):
        tiny(engine, path)


def test_missing_path_and_offline_hub_id(engine, tmp_path):
    with pytest.raises(ModelLoadError, match="not found"):
        tiny(engine, tmp_path / "nope")
    with pytest.raises(ModelLoadError, match="offline.*--model /path"):
        tiny(engine, "someone/not-cached-model")


def test_a_folder_that_is_not_a_model(engine, tmp_path):
    with pytest.raises(ModelLoadError, match="model_index.json"):
        tiny(engine, tmp_path)


def test_cache_keeps_one_model_and_frees_the_old(sd1_dir, sdxl_dir):
    cache = ModelCache()
    first = cache.get(str(sd1_dir))
    assert cache.get(str(sd1_dir)) is first
    ref = weakref.ref(first.pipe.unet)
    del first
    cache.get(str(sdxl_dir))
    gc.collect()
    assert ref() is None
