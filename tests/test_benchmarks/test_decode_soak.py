"""``benchmarks/decode_soak.py`` at a tiny size: it decodes, reports memory
every N clips, recycles workers when asked and judges the growth. (The full
5000-clip run is in docs/dataset.md.)"""
import importlib.util
import os.path as osp
import re

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _soak_module():
    spec = importlib.util.spec_from_file_location(
        'decode_soak', osp.join(REPO, 'benchmarks', 'decode_soak.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tiny_soak_with_recycled_workers(capsys, test_data):
    soak = _soak_module()
    rc = soak.main([
        '--clips', '30', '--report-every', '10', '--workers', '2',
        '--tasks-per-worker', '5', '--generated-per-class', '1',
        '--shared-data', test_data, '--shared-fraction', '0.2',
        '--tolerance', '1.0'
    ])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert re.search('^CPU: .*; torch ', out, re.M)
    assert ('Decode soak: 30 clips of 6 videos: 4 generated (128x128, 40 '
            'frames), test.mp4, test.avi, drawn at random (20 % from the '
            'shared videos)') in out
    rows = re.findall(r'^ +(\d+) +[\d.]+ +([\d.]+) +([\d.]+) +([\d.]+) +'
                      r'(\d+), (\d+)$', out, re.M)
    # A report every 10 clips; new workers every 2 x 5 clips.
    assert [int(r[0]) for r in rows] == [10, 20, 30]
    assert [int(r[4]) for r in rows] == [2, 4, 6]
    assert all(float(r[1]) > 0 and float(r[2]) > 0 for r in rows)
    change = r'[+-][\d.]+ %'
    assert re.search(
        rf'RSS from the first report \(10 clips\) to the last \(30\): main '
        rf'{change}, worker 0 {change}, worker 1 {change}; highest: main '
        rf'{change}, worker 0 {change}, worker 1 {change} \(limit 100 %\): '
        r'flat\. Workers started 6, lost 0\.', out)
