"""A toy model, dataset and metric trained by mmengine's real Runner, for
the tests of the checkpoint fixes."""
import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import Dataset


class ToyModel(BaseModel):
    """y = w.x + b, trained on squared error; with ``dropout`` > 0, its
    input goes through dropout (random numbers in the main process)."""

    def __init__(self, dropout=0.0):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(2, 1)

    def forward(self, inputs, targets, mode='tensor'):
        out = self.fc(self.dropout(torch.stack(inputs))).squeeze(1)
        if mode == 'loss':
            return dict(loss=((out - torch.stack(targets))**2).mean())
        if mode == 'predict':
            return [dict(pred=p, target=t) for p, t in zip(out, targets)]
        return out


class ToyDataset(Dataset):
    """8 samples ``([i, 1], 2)``; with ``noise``, the 1 is a uniform random
    number drawn in the ``pipeline`` (in the DataLoader workers)."""
    metainfo = dict(classes=('toy', ))

    def __init__(self, noise=False):
        self.noise = noise

    def pipeline(self, results):
        if self.noise:
            results['inputs'][1] = float(np.random.rand())
        return results

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return self.pipeline(
            dict(inputs=torch.tensor([i, 1.0]), targets=torch.tensor(2.0)))


class ToyMetric(BaseMetric):
    """Returns numpy scalars, as MMAction2's AccMetric does."""

    def process(self, data_batch, data_samples):
        self.results.extend(
            float(abs(s['pred'] - s['target'])) for s in data_samples)

    def compute_metrics(self, results):
        err = np.array(results)
        return dict(err=err.mean(), hits=np.int64((err < 1).sum()))


def build_runner(work_dir, name, train_cfg, checkpoint, model=None,
                 dataset=None, num_workers=0, shuffle=False,
                 default_hooks=None, default_scope='mmengine', **kwargs):
    """A Runner training ``model`` (a ToyModel) with SGD and two
    schedulers, validating with ToyMetric. Building it makes
    ``default_scope`` the current scope.

    ``name`` must be unique: mmengine shares MessageHub and logger instances
    by experiment name.
    """
    loader = dict(
        dataset=dataset or ToyDataset(),
        sampler=dict(type='DefaultSampler', shuffle=shuffle),
        batch_size=4,
        num_workers=num_workers,
        persistent_workers=num_workers > 0)
    return Runner(
        model=model or ToyModel(),
        work_dir=str(work_dir),
        experiment_name=name,
        train_dataloader=loader,
        val_dataloader=dict(loader, num_workers=0, persistent_workers=False),
        val_evaluator=[ToyMetric()],
        train_cfg=train_cfg,
        val_cfg=dict(),
        optim_wrapper=dict(
            optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
        param_scheduler=[
            dict(type='LinearLR', start_factor=0.5, by_epoch=False, end=1),
            dict(type='MultiStepLR', milestones=[1], by_epoch=False)
        ],
        default_hooks=dict(checkpoint=checkpoint, **(default_hooks or {})),
        default_scope=default_scope,
        **kwargs)
