"""Reference run for docs/BENCHMARKS.md "Bit sequences": trajectory balance on gfnx 0.0.1's
non-autoregressive bit-sequence environment (n = 120, k = 8, 60 modes; gfnx 0.0.1's reward is
log R = -reward_exponent * d / n, d the Hamming distance to the nearest mode: gfn's formula, with
beta = 240 as in configs/bitseq.toml), with the same network and recipe as configs/bitseq.toml:
an MLP of 2 x 256 hidden units on the one-hot words, uniform backward policy, batch 16,
Adam 3e-4 (log Z 1e-2), random-action probability 0.05.

Reports the members of the mode set found (a trained-on sequence within 10 bits), trajectories/s
after compilation, and the learned log Z, as one JSON line. Run from scripts/bench-bitseq:
    python gfnx_bitseq_tb.py --updates 5000 --seed 0
"""
import argparse
import json
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

import gfnx


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--updates", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--beta", type=float, default=240.0)
    parser.add_argument("--chunk", type=int, default=100, help="updates per compiled scan")
    args = parser.parse_args()
    n, k, num_modes, threshold = 120, 8, 60, 10

    reward_module = gfnx.BitseqRewardModule(sentence_len=n, k=k, mode_set_size=num_modes, reward_exponent=args.beta)
    env = gfnx.BitseqEnvironment(reward_module, n=n, k=k)
    env_params = env.init(jax.random.PRNGKey(1))
    mode_set = env_params.reward_params["mode_set"]  # [60, 120] bools
    words = n // k
    vocab = 2**k
    n_actions = env.action_space.n

    key = jax.random.PRNGKey(args.seed)
    key, net_key = jax.random.split(key)
    mlp = eqx.nn.MLP(words * (vocab + 1), n_actions, width_size=256, depth=2, activation=jax.nn.leaky_relu, key=net_key)
    params = {"mlp": eqx.filter(mlp, eqx.is_array), "logZ": jnp.array(0.0)}
    static = eqx.filter(mlp, eqx.is_array, inverse=True)
    labels = {"mlp": jax.tree.map(lambda _: "net", params["mlp"]), "logZ": "logz"}
    optimizer = optax.multi_transform({"net": optax.adam(3e-4), "logz": optax.adam(1e-2)}, labels)
    opt_state = optimizer.init(params)

    def encode(obs):
        tokens = obs[..., 1:]  # drop BOS; empty slots hold the pad token 2^k
        digit = jnp.where(tokens == env.pad_token, 0, tokens + 1)
        return jax.nn.one_hot(digit, vocab + 1).reshape(*tokens.shape[:-1], words * (vocab + 1))

    def policy_fn(rng, obs, mlp_params):
        model = eqx.combine(mlp_params, static)
        logits = jax.vmap(model)(encode(obs))
        explore = jax.random.bernoulli(rng, 0.05, (logits.shape[0],))
        logits = jnp.where(explore[:, None], 0.0, logits)
        return logits, {}

    def bits_of(tokens):
        return jax.vmap(lambda t: gfnx.utils.bitseq.detokenize(t, k))(tokens)

    def loss_fn(params, traj):
        model = eqx.combine(params["mlp"], static)
        logits = jax.vmap(jax.vmap(model))(encode(traj.obs))
        invalid = jax.vmap(env.get_invalid_mask, in_axes=(1, None), out_axes=1)(traj.state, env_params)
        logp = jax.nn.log_softmax(gfnx.utils.mask_logits(logits, invalid), axis=-1)
        chosen = jnp.take_along_axis(logp, traj.action[..., None], axis=-1)[..., 0]
        log_pf = jnp.where(traj.pad, 0.0, chosen).sum(axis=1)
        # uniform backward policy: the last state of a trajectory has m filled slots, m! orders
        log_pb = -jax.scipy.special.gammaln(words + 1.0)
        log_r = jnp.where(traj.pad, 0.0, traj.log_gfn_reward).sum(axis=1)
        return jnp.mean((params["logZ"] + log_pf - log_pb - log_r) ** 2)

    def step(carry, _):
        params, opt_state, key, found = carry
        key, rollout_key = jax.random.split(key)
        traj, _ = gfnx.utils.forward_rollout(rollout_key, args.batch, policy_fn, params["mlp"], env, env_params)
        loss, grads = jax.value_and_grad(loss_fn)(params, traj)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        final = jax.tree.map(lambda x: x[:, -1], traj.state)
        bits = bits_of(final.tokens)
        distance = (bits[:, None, :] != mode_set[None, :, :]).sum(-1)  # [batch, modes]
        found = found | (distance <= threshold).any(axis=0)
        return (params, opt_state, key, found), loss

    @jax.jit
    def run_chunk(carry):
        return jax.lax.scan(step, carry, None, length=args.chunk)

    carry = (params, opt_state, key, jnp.zeros(num_modes, dtype=bool))
    compile_started = time.perf_counter()
    carry, _ = run_chunk(carry)
    jax.block_until_ready(carry)
    compile_seconds = time.perf_counter() - compile_started
    started = time.perf_counter()
    done = args.chunk
    while done < args.updates:
        carry, losses = run_chunk(carry)
        done += args.chunk
    jax.block_until_ready(carry)
    seconds = time.perf_counter() - started
    params, _, _, found = carry
    print(json.dumps({
        "library": "gfnx 0.0.1 (jax " + jax.__version__ + ")",
        "seed": args.seed,
        "updates": done,
        "trajectories": done * args.batch,
        "modes_found": int(found.sum()),
        "num_modes": num_modes,
        "learned_log_z": float(params["logZ"]),
        "last_loss": float(losses[-1]),
        "first_chunk_seconds_with_compilation": round(compile_seconds, 2),
        "trajectories_per_second": round((done - args.chunk) * args.batch / seconds, 1),
    }))


if __name__ == "__main__":
    main()
