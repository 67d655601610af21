import threading

import workbench
from workbench import ModelSpec
from workbench.keys import resolve_key
from workbench.redact import redact


def test_session_key_wins_then_environment(monkeypatch):
    monkeypatch.setenv("WB_TEST_KEY", "from-env")
    assert resolve_key("WB_TEST_KEY") == "from-env"
    assert resolve_key("WB_TEST_KEY", {"WB_TEST_KEY": " typed "}) == "typed"
    assert resolve_key(None) is None
    monkeypatch.delenv("WB_TEST_KEY")
    assert resolve_key("WB_TEST_KEY") is None


def test_redact_removes_known_and_key_shaped_secrets():
    text = "401: bad key sk-live-abcdefgh sent as Bearer abc.def-123456789 for user-secret-value"
    out = redact(text, ["user-secret-value"])
    assert "abcdefgh" not in out and "abc.def-123456789" not in out and "user-secret-value" not in out
    assert out.count("[redacted]") == 3
    assert redact(None) is None


def test_one_local_model_serves_concurrent_calls(tiny_llava_dir, sample_image):
    spec = ModelSpec(name="tiny", backend="transformers", model=tiny_llava_dir)
    results = [None] * 4

    def call(i):
        results[i] = workbench.run_model(sample_image, "ask", spec, max_tokens=6)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r is not None and r.status != "error" for r in results), [r.error for r in results if r]
    # Greedy decoding on one shared model: identical inputs must give identical outputs (no corrupted state).
    assert len({r.raw_text for r in results}) == 1
