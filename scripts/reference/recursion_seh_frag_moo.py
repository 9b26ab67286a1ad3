"""recursionpharma/gflownet's `seh_frag_moo` (sEH, QED, SA, MW; preference-conditioned trajectory
balance) trained on CPU beside gfn, then sampled under each preference of the simplex grid that
gfn's learner evaluates on, so that both libraries' molecules go through one scoring and one set
of indicators (scripts/compare-moo-recursion).

Its code is not part of gfn: give the path of a checkout's `src` directory (the repository at
github.com/recursionpharma/gflownet). Two of its imports have no wheels for torch 2.13
(torch_scatter, torch_sparse); this script puts pure-torch equivalents of the functions it calls
in their place before importing it (scatter/scatter_sum/scatter_add/scatter_max, coalesce), and
an empty `wandb` module when that is not installed. Its sEH proxy weights are read from the file
given with --proxy (the published pickle; the package would download it otherwise).

Settings: the task's own defaults (SEHFragTrainer and SEHMOOFragTrainer: graph transformer
128 × 4, Adam 1e-4, log Z 1e-3, 64 molecules per step, sampling model τ = 0.95, up to 9
fragments) with its example's random-action probability 0.01, Dirichlet(1) preferences over
the four objectives, and β ~ U[1, 96] with a 32-dimensional thermometer encoding — the same
conditioning as configs/seh-frag-moo.toml. Sampling after training: β = 96 (the package's own
validation rule, the top of the range), no random actions, `--samples` molecules per preference.

  python3 recursion_seh_frag_moo.py --src RP/src --proxy PKL --steps 500 --seed 0 --out DIR
writes DIR/log (the package's log), DIR/samples/<w1,w2,w3,w4>.smi (one SMILES per line, in the
grid's order) and DIR/run.json (seconds of training and of sampling, molecules trained on).
"""

import argparse
import itertools
import json
import os
import shutil
import sys
import time
import types

import torch


def install_shims():
    """Pure-torch stand-ins for the torch_scatter / torch_sparse functions the package calls."""

    def scatter(src, index, dim=0, out=None, dim_size=None, reduce="sum"):
        dim = dim if dim >= 0 else src.dim() + dim
        if dim_size is None:
            dim_size = int(index.max()) + 1 if index.numel() else 0
        shape = list(src.shape)
        shape[dim] = dim_size
        if index.dim() != src.dim():
            view = [1] * src.dim()
            view[dim] = -1
            index = index.view(view).expand_as(src)
        reduce = {"add": "sum", "mean": "mean", "sum": "sum", "max": "amax", "min": "amin"}[reduce]
        fill = 0
        base = torch.full(shape, fill, dtype=src.dtype, device=src.device) if out is None else out
        if reduce == "sum":
            return base.scatter_add(dim, index, src)
        return base.scatter_reduce(dim, index, src, reduce=reduce, include_self=False)

    def scatter_sum(src, index, dim=-1, out=None, dim_size=None):
        return scatter(src, index, dim, out, dim_size, "sum")

    def scatter_max(src, index, dim=-1, out=None, dim_size=None):
        values = scatter(src, index, dim, out, dim_size, "max")
        dim = dim if dim >= 0 else src.dim() + dim
        if index.dim() != src.dim():
            view = [1] * src.dim()
            view[dim] = -1
            index = index.view(view).expand_as(src)
        # argmax: the last position holding the maximum (ties are irrelevant to the callers)
        positions = torch.arange(src.shape[dim], device=src.device)
        view = [1] * src.dim()
        view[dim] = -1
        positions = positions.view(view).expand_as(src)
        hits = src == values.gather(dim, index)
        arg = torch.full(values.shape, src.shape[dim], dtype=torch.long, device=src.device)
        arg = arg.scatter_reduce(dim, index, torch.where(hits, positions, src.shape[dim]), "amin", include_self=True)
        return values, arg

    scatter_module = types.ModuleType("torch_scatter")
    scatter_module.scatter = scatter
    scatter_module.scatter_sum = scatter_sum
    scatter_module.scatter_add = scatter_sum
    scatter_module.scatter_max = scatter_max
    sys.modules["torch_scatter"] = scatter_module

    import torch_geometric.utils

    def coalesce(index, value, m, n, op="add"):
        return torch_geometric.utils.coalesce(index, value, max(m, n), reduce=op)

    sparse_module = types.ModuleType("torch_sparse")
    sparse_module.coalesce = coalesce
    sparse_module.SparseTensor = None
    sys.modules["torch_sparse"] = sparse_module
    try:
        import wandb  # noqa: F401
    except ImportError:
        stub = types.ModuleType("wandb")
        stub.run = None  # the trainer logs to wandb only when a run is active
        sys.modules["wandb"] = stub


def simplex_grid(objectives, divisions):
    """The grid gfn evaluates on, in its order (common/src/pareto.rs simplex_grid)."""
    for parts in itertools.product(range(divisions + 1), repeat=objectives):
        if sum(parts) == divisions:
            yield [p / divisions for p in parts]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", required=True, help="recursionpharma/gflownet checkout's src directory")
    parser.add_argument("--proxy", required=True, help="the published sEH proxy pickle (bengio2021flow_proxy.pkl.gz)")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--samples", type=int, default=128, help="molecules per evaluation preference")
    parser.add_argument("--divisions", type=int, default=4, help="simplex grid divisions (4: 35 preferences)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    sys.path.insert(0, args.src)
    install_shims()
    from gflownet.config import Config, init_empty
    from gflownet.models import bengio2021flow
    from gflownet.tasks.seh_frag_moo import SEHMOOFragTrainer

    cache = os.path.join(os.path.dirname(bengio2021flow.__file__), "cache")
    os.makedirs(cache, exist_ok=True)
    target = os.path.join(cache, "bengio2021flow_proxy.pkl.gz")
    if not os.path.exists(target):
        shutil.copyfile(args.proxy, target)

    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    config = init_empty(Config())
    config.log_dir = os.path.join(out, "log")
    config.device = "cpu"
    config.seed = args.seed
    config.overwrite_existing_exp = True
    config.num_training_steps = args.steps
    config.validate_every = 0
    config.checkpoint_every = args.steps
    config.num_final_gen_steps = 0
    config.print_every = 50
    config.num_workers = 0
    config.algo.train_random_action_prob = 0.01
    config.cond.temperature.sample_dist = "uniform"
    config.cond.temperature.dist_params = [1.0, 96.0]
    config.cond.temperature.num_thermometer_dim = 32
    config.cond.weighted_prefs.preference_type = "dirichlet"
    config.cond.weighted_prefs.preference_param = 1.0
    config.cond.focus_region.focus_type = None
    config.task.seh_moo.objectives = ["seh", "qed", "sa", "mw"]
    config.task.seh_moo.online_pareto_front = False
    config.replay.use = False

    trial = SEHMOOFragTrainer(config)
    start = time.time()
    trial.run()
    trained = time.time() - start

    start = time.time()
    samples = os.path.join(out, "samples")
    os.makedirs(samples, exist_ok=True)
    model = trial.model.eval()
    task, algo, ctx = trial.task, trial.algo, trial.ctx
    for preference in simplex_grid(4, args.divisions):
        steer = torch.tensor([preference] * args.samples, dtype=torch.float)
        cond_info = task.encode_conditional_information(steer)
        with torch.no_grad():
            trajs = algo.create_training_data_from_own_samples(model, args.samples, cond_info["encoding"], 0.0)
        smiles = []
        for traj in trajs:
            if not traj.get("is_valid", True):
                continue
            mol = ctx.graph_to_mol(traj["result"])
            from rdkit import Chem

            smiles.append(Chem.MolToSmiles(mol))
        name = ",".join(str(p) for p in preference)
        with open(os.path.join(samples, f"{name}.smi"), "w") as f:
            f.write("".join(s + "\n" for s in smiles))
    sampled = time.time() - start
    with open(os.path.join(out, "run.json"), "w") as f:
        json.dump(
            {
                "steps": args.steps,
                "molecules_trained": args.steps * trial.cfg.algo.num_from_policy,
                "train_seconds": trained,
                "sample_seconds": sampled,
                "seed": args.seed,
                "threads": args.threads,
            },
            f,
        )
    print(json.dumps({"train_seconds": trained, "sample_seconds": sampled}))


if __name__ == "__main__":
    main()
