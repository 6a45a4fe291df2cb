"""The command line: the report lists every source key, errors name the
file and go to stderr with exit status 1."""
import runpy
import sys

import pytest
import torch
from convert_sources import VmzCSN, randomize

from csn_plugin.tools.convert.__main__ import main


def test_report_lists_every_key(tmp_path, capsys):
    source = randomize(VmzCSN('ir', (2, 2, 2, 2), 400, width=8))
    state = source.state_dict()
    state['extra.weight'] = torch.zeros(1)
    torch.save(state, tmp_path / 'ir.pth')
    assert main(['vmz', str(tmp_path / 'ir.pth'), str(tmp_path / 'o.pth'),
                 '--config', str(tmp_path / 'o.py')]) == 0
    out = capsys.readouterr().out
    assert 'mode: ir, depth: 26, classes: 400' in out
    assert f'used {len(state) - 1} source keys:' in out
    for key in state:
        if key != 'extra.weight':
            assert f'\n  {key} -> ' in out
    assert 'unused 1 source keys:\n  extra.weight\n' in out
    assert 'model.backbone.base_channels: 8 (config: 64)' in out
    assert f'wrote {tmp_path / "o.py"}' in out


def test_error_exit_status(tmp_path, capsys):
    (tmp_path / 'empty.pkl').write_bytes(b'')
    assert main(['vmz-caffe2', str(tmp_path / 'empty.pkl'),
                 str(tmp_path / 'o.pth')]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f'error: {tmp_path / "empty.pkl"}: ')
    assert 'an empty file' in err
    assert not (tmp_path / 'o.pth').exists()


def test_python_m(tmp_path, capsys, monkeypatch):
    """``python -m csn_plugin.tools.convert`` runs the module's main."""
    source = randomize(VmzCSN('ip', (2, 2, 2, 2), 359, width=8))
    torch.save(source.state_dict(), tmp_path / 'ip.pth')
    monkeypatch.setattr(sys, 'argv', [
        'convert', 'vmz',
        str(tmp_path / 'ip.pth'),
        str(tmp_path / 'ip_mm.pth'), '--head-pool', '1', '2', '2'
    ])
    # as a fresh `python -m` would, run __main__ not yet imported
    monkeypatch.delitem(sys.modules, 'csn_plugin.tools.convert.__main__')
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_module('csn_plugin.tools.convert', run_name='__main__')
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert 'mode: ip, depth: 26, classes: 359' in out
    assert 'head pool: fixed (1, 2, 2) average window' in out
    checkpoint = torch.load(tmp_path / 'ip_mm.pth', weights_only=True)
    assert checkpoint['meta']['network'] == 'ip-CSN-26'
    assert all(
        k.startswith(('backbone.', 'cls_head.fc_cls.'))
        for k in checkpoint['state_dict'])
