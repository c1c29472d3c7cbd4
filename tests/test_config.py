"""Configuration is data, validated on load; errors name the file and the key."""

from __future__ import annotations

import shutil

import pytest

from tasks.core.config import TEMPLATES, load_config
from tasks.core.errors import ConfigError


def test_the_committed_configuration_is_the_partnership(config):
    assert [p.number for p in config.outline.paket] == [1, 2, 3, 4, 5]
    assert list(config.outline.pieces) == ["1.1", "1.2", "1.3", "1.4", "2.1", "2.2", "2.3", "2.4", "3.1", "3.2",
                                           "3.3", "3.4", "4.1", "4.2", "4.3", "5.1", "5.2"]
    assert sum(p.budget_sek for p in config.outline.pieces.values()) == 48_500  # 4 × 5 000 + 11 × 2 500 + 2 × 500
    assert len(config.registry.partners) == 14
    assert config.registry.find("FRÄLSNINGSARMÉN").slug == "fralsningsarmen"
    assert config.registry.find("okänd") is None
    assert config.settings.link_seconds == 7 * 24 * 3600


@pytest.mark.parametrize("file, old, new, key", [
    ("outline.toml", 'id = "1.3"', 'id = "1.2"', "paket[0].pieces[2].id"),
    ("outline.toml", 'id = "2.1"', 'id = "3.1"', "paket[1].pieces[0].id"),
    ("outline.toml", "budget_sek = 500\n", 'budget_sek = "femhundra"\n', "paket[4].pieces[0].budget_sek"),
    ("partners.toml", 'slug = "myrorna"', 'slug = "Myrorna AB"', "partner[7].slug"),
    ("partners.toml", 'name = "Forum"\n', "", "partner[12].name"),
    ("settings.toml", "max_file_mb = 20", "max_file_mb = -1", "intake.max_file_mb"),
    ("settings.toml", 'formats = ["docx", "pdf", "html"]', 'formats = ["docx", "odt"]', "draft.formats"),
    ("settings.toml", "expire_hours = 168", "expire_hours = 720", "links.expire_hours"),
])
def test_invalid_configuration_names_file_and_key(tmp_path, file, old, new, key):
    for path in TEMPLATES.iterdir():
        if path.is_file():
            shutil.copy(path, tmp_path / path.name)
    text = (tmp_path / file).read_text(encoding="utf-8")
    assert old in text
    (tmp_path / file).write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert caught.value.file.endswith(file) and caught.value.key == key
