"""synthreid.integrations.names: the naming rules torchreid and fast-reid registration share."""

import pytest

from synthreid.errors import SynthreidError
from synthreid.integrations.names import Registrations


def test_default_names_repeats_and_clashes(tmp_path):
    reg = Registrations("torchreid", "the root argument")
    root = reg.claim(None, None, None)
    assert (root.name, root.folder, root.done) == ("synthreid", None, False)
    assert reg.added(root) == "synthreid" and reg.claim(None, None, None).done
    folder = reg.claim(tmp_path / "a", None, "market1501")
    assert folder.name == f"synthreid:{tmp_path / 'a'}" and folder.folder == str((tmp_path / "a").resolve())
    reg.added(folder)
    assert reg.claim(tmp_path / "a", None, "market1501").done  # same folder and format: a no-op
    with pytest.raises(
        SynthreidError, match="torchreid dataset 'synthreid' is already registered for the root"
    ):
        reg.claim(tmp_path / "b", "synthreid", None)
    with pytest.raises(SynthreidError, match="already registered for .*/a; pick another name"):
        reg.claim(tmp_path / "a", f"synthreid:{tmp_path / 'a'}", "openreid")  # another format
    assert "fast-reid already has a dataset named 'x'" in str(
        Registrations("fast-reid", "the dataset root").refused(folder.__class__("x", None, None, False))
    )
