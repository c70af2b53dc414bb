"""Two islands: data-parallel training whose gradients are averaged inside each island (a
collective) and then across the islands (a transfer between them plus an add, in the program)."""

from conftest import run_python


def run_ok(code):
    """Runs `code` in a fresh interpreter (its own embedded cluster, with islands); it must
    print "ok" last."""
    result = run_python(code, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")


def test_data_parallel_training_across_two_islands_matches_one_device():
    run_ok("""
        import functools
        import numpy as np
        import pathways as pw

        pw.init(islands=2, hosts=1, devices_per_host=2)
        cfg = pw.models.TransformerConfig(vocab=16, d_model=8, heads=2, layers=1, seq_len=4)
        opt = pw.optimizers.sgd(0.5)
        vds = pw.make_virtual_device_set()
        a = vds.add_slice(devices=2, island=0, axis_names=("data",))
        b = vds.add_slice(devices=2, island=1, axis_names=("data",))
        assert a.island != b.island

        def island_grads(params, tokens):  # averaged over the island's devices: a collective
            loss, g = pw.value_and_grad(functools.partial(pw.models.loss, cfg=cfg))(params, tokens)
            return pw.lax.pmean(loss, "data"), pw.lax.pmean(g, "data")

        def average(x, y):
            return pw.tree_map(lambda u, v: (u + v) * 0.5, x, y)

        def update(params, state, grads):
            updates, state = opt.update(grads, state, params)
            return pw.optimizers.apply_updates(params, updates), state

        fns = {}
        for name, sl in (("a", a), ("b", b)):
            fns[name] = dict(
                init=pw.pmap(functools.partial(pw.models.init_with_optimizer, cfg=cfg, optimizer=opt),
                             devices=sl.devices),
                grads=pw.pmap(island_grads, devices=sl.devices),
                average=pw.pmap(average, devices=sl.devices),
                update=pw.pmap(update, devices=sl.devices))

        @pw.program
        def step(pa, sa, pb, sb, ta, tb):
            la, ga = fns["a"]["grads"](pa, ta)
            lb, gb = fns["b"]["grads"](pb, tb)
            # Across the islands: each side receives the other's gradients (host-to-host).
            g_a = fns["a"]["average"](ga, gb)
            g_b = fns["b"]["average"](gb, ga)
            pa, sa = fns["a"]["update"](pa, sa, g_a)
            pb, sb = fns["b"]["update"](pb, sb, g_b)
            return pa, sa, pb, sb, fns["a"]["average"](la, lb)

        key = np.stack([pw.random.PRNGKey(0)] * 2)
        pa, sa = fns["a"]["init"](key)
        pb, sb = fns["b"]["init"](key)
        ref = pw.tree_map(np.asarray, pw.models.init(pw.random.PRNGKey(0), cfg))
        rng = np.random.default_rng(0)
        for i in range(3):
            tokens = rng.integers(0, cfg.vocab, size=(4, cfg.seq_len + 1)).astype(np.int32)
            pa, sa, pb, sb, loss = step(pa, sa, pb, sb, tokens[:2, None], tokens[2:, None])
            ref_loss, ref_g = pw.value_and_grad(functools.partial(pw.models.loss, cfg=cfg))(ref, tokens)
            ref = pw.tree_map(lambda p, g: p - 0.5 * np.asarray(g), ref, ref_g)
            np.testing.assert_allclose(np.asarray(loss), float(ref_loss), rtol=1e-5)
        # Both islands hold the same parameters, bit for bit.
        for x, y in zip(pw.tree_leaves(pa), pw.tree_leaves(pb)):
            assert np.array_equal(np.asarray(x), np.asarray(y))
        print("ok")
    """)


def test_a_pipeline_whose_stages_span_four_islands_matches_one_device():
    run_ok("""
        import functools
        import numpy as np
        import pathways as pw

        pw.init(islands=4, hosts=1, devices_per_host=1)
        cfg = pw.models.TransformerConfig(vocab=16, d_model=8, heads=2, layers=4, seq_len=4)
        opt = pw.optimizers.sgd(0.5)
        vds = pw.make_virtual_device_set()
        stages = [vds.add_slice(devices=1, island=i) for i in range(4)]
        assert sorted(s.island for s in stages) == [0, 1, 2, 3]
        pipe = pw.pipeline.Pipeline(cfg, opt, [s.devices for s in stages], microbatches=2)
        state = pipe.init(pw.random.PRNGKey(0))
        ref = pw.tree_map(np.asarray, pw.models.init(pw.random.PRNGKey(0), cfg))
        rng = np.random.default_rng(0)
        for i in range(3):
            tokens = rng.integers(0, cfg.vocab, size=(1, 4, cfg.seq_len + 1)).astype(np.int32)
            state, loss = pipe.step(state, tokens)
            ref_loss, ref_g = pw.value_and_grad(functools.partial(pw.models.loss, cfg=cfg))(ref, tokens[0])
            ref = pw.tree_map(lambda p, g: p - 0.5 * np.asarray(g), ref, ref_g)
            np.testing.assert_allclose(np.asarray(loss)[0], float(ref_loss), rtol=1e-5)
        print("ok")
    """)


def test_the_embedded_clusters_network_between_islands_delays_pushes_across_them():
    run_ok("""
        import time
        import numpy as np
        import pathways as pw

        pw.init(islands=2, hosts=1, devices_per_host=1, dcn_latency_us=200000, dcn_gbps=10)
        vds = pw.make_virtual_device_set()
        a = vds.add_slice(devices=1, island=0).devices
        b = vds.add_slice(devices=1, island=1).devices
        fa = pw.pmap(lambda x: x * 2, devices=a)
        fb = pw.pmap(lambda x: x + 1, devices=b)

        @pw.program
        def across(x):
            return fb(fa(x))

        x = np.ones((1, 4), np.float32)
        np.asarray(across(x))  # traced and compiled
        start = time.perf_counter()
        out = np.asarray(across(x))
        assert time.perf_counter() - start >= 0.2, "the push across islands was not delayed"
        assert out.tolist() == [[3.0] * 4]
        print("ok")
    """)
