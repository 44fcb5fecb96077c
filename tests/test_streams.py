"""Per-world random streams (streams.py): a world's draws depend on its global id
only, so splitting worlds into shards of any size gives the same worlds,
teachers and learning curves."""

from __future__ import annotations

import numpy as np
import pytest

from policy_distillation import environments as E
from policy_distillation import evaluation as ev
from policy_distillation import streams as R
from policy_distillation import teachers as T
from policy_distillation.methods import Teacher
from policy_distillation.training import distill

CFG = E.GridConfig(rows=5, cols=5, p_goal=0.08, stop_prob=0.05)


def test_world_stream_depends_on_its_id_only():
    a = R.world_generators(7, [0, 5, 9], "grid")
    b = R.world_generators(7, [5], "grid")
    assert a[1].random(4).tolist() == b[0].random(4).tolist()
    c = R.world_generators(7, [5], "q_learning")
    assert not np.array_equal(R.world_generators(7, [5], "grid")[0].random(4), c[0].random(4))
    d = R.world_generators(8, [5], "grid")
    assert not np.array_equal(R.world_generators(7, [5], "grid")[0].random(4), d[0].random(4))


def test_slots_are_distinct_streams():
    g = R.world_generators(1, [3], "distill", slots=3)
    draws = [x.random(3).tolist() for x in g]
    assert len({tuple(d) for d in draws}) == 3
    assert R.world_generators(1, [3], "distill", slots=1)[0].random(3).tolist() == draws[0]


@pytest.mark.parametrize("bad", [[-1], [[1, 2]], [0.5]])
def test_world_ids_must_be_non_negative_integers(bad):
    with pytest.raises(ValueError, match="world_ids"):
        R.world_generators(0, np.array(bad), "grid")


def test_unknown_stream_and_bad_seed_are_refused():
    with pytest.raises(ValueError, match="unknown random stream"):
        R.seed_sequence(0, "nope")
    with pytest.raises(ValueError, match="seed"):
        R.seed_sequence(-1, "grid")


def test_uniforms_by_world_reads_each_world_in_order():
    gens = R.world_generators(3, [0, 1, 2], "grid")
    u = R.uniforms_by_world(gens, np.array([0, 0, 2, 2, 2]))
    ref = R.world_generators(3, [0, 1, 2], "grid")
    assert u.tolist() == ref[0].random(2).tolist() + ref[2].random(3).tolist()
    with pytest.raises(ValueError, match="grouped"):
        R.uniforms_by_world(gens, np.array([1, 0]))


def shards(ids, size):
    return [ids[i:i + size] for i in range(0, len(ids), size)]


def worlds(ids):
    return E.random_grid_worlds(R.world_generators(11, ids, "grid"), len(ids), CFG)


def test_worlds_teachers_and_curves_do_not_depend_on_the_shard_size():
    ids = np.arange(6)
    whole = {}
    for size in (6, 4, 1):
        layout, Q, flips, curves = [], [], [], []
        for part in shards(ids, size):
            m = worlds(part)
            q = T.q_learning(m, R.world_generators(11, part, "q_learning"), T.QLearningConfig(steps=400))
            noisy, flipped = T.flip_teacher(m, T.greedy(q), 0.25, R.world_generators(11, part, "noisy"))
            pi = T.epsilon_greedy(q)
            res = distill(m, Teacher(pi=pi), "on_policy_distill", "sampled", steps=6, lr=0.5, eval_every=3,
                          seed=5, world_ids=part)
            layout.append(m.layout)
            Q.append(q)
            flips.append(flipped)
            curves.append(res.kl_student)
        got = {"layout": np.concatenate(layout), "Q": np.concatenate(Q), "flipped": np.concatenate(flips),
               "kl_student": np.concatenate(curves, axis=1)}
        if not whole:
            whole = got
        for key, value in got.items():
            np.testing.assert_array_equal(value, whole[key], err_msg=f"{key} with shards of {size}")


def test_sampled_run_of_one_world_matches_its_run_inside_a_batch():
    m = worlds(np.arange(3))
    _, _, pi_star = ev.optimal_values(m)
    teacher = Teacher(pi=0.9 * pi_star + 0.1 / m.A)
    kw = dict(estimator="sampled", steps=8, lr=0.5, eval_every=4, seed=3, n_trajectories=2)
    batch = distill(m, teacher, "entropy_regularised", world_ids=np.array([4, 7, 9]), **kw)
    alone = distill(m.subset([1]), Teacher(pi=teacher.pi[[1]]), "entropy_regularised", world_ids=np.array([7]), **kw)
    np.testing.assert_array_equal(batch.returns[:, 1], alone.returns[:, 0])
