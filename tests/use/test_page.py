"""The page in a real browser: Debian's headless Chromium, driven by Playwright, with a fake microphone.

Chromium's fake capture device plays a WAV of a built-in caption (espeak-ng, 16-bit mono). The test
holds the record button for the file's length, releases, and the page must show that caption's image:
microphone -> MediaRecorder (WebM/Opus) -> the server's decode_audio -> the model -> the page.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
from test_serve import Server, dev_data, search_audio, search_json, serve_model, server, spoken_captions  # noqa: F401

from sonovis.data.audio import Waveform
from sonovis.data.shards import Prepared
from sonovis.use.serve import wav_bytes

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")  # Debian's (scripts/system-packages.sh test); never downloaded
SCREENSHOT_ENV = "SONOVIS_SCREENSHOT"  # e.g. SONOVIS_SCREENSHOT=docs/serve-page.png
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run"]


def _padded(audio: Waveform, lead: float = 0.2, tail: float = 0.3) -> Waveform:
    """Silence around the caption: the microphone opens a moment after the press."""
    rate = audio.sample_rate
    samples = np.concatenate([np.zeros(int(lead * rate)), audio.samples, np.zeros(int(tail * rate))])
    return Waveform(samples.astype(np.float32), rate)


@pytest.fixture(scope="module")
def spoken(dev_data: Prepared, server: Server) -> tuple[str, str, Waveform]:  # noqa: F811
    """The caption whose microphone file, uploaded, the model ranks first by the widest margin.

    (The padding matters: this small model, trained on tightly cut espeak-ng audio, ranks padded
    captions differently, so the caption is chosen by the very file the fake microphone plays.)
    """
    best, margin = None, 0.0
    for image_id, caption, audio in spoken_captions(dev_data):
        scores = search_audio(server.url, wav_bytes(_padded(audio)))[1]["matches"]
        if scores[0]["image_id"] == image_id and scores[0]["score"] - scores[1]["score"] > margin:
            best, margin = (image_id, caption, _padded(audio)), scores[0]["score"] - scores[1]["score"]
    assert best is not None, "no caption's upload ranks its own image first"
    return best


@contextmanager
def chromium_page(*extra_args: str) -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS + list(extra_args))
        try:
            yield browser.new_page(viewport={"width": 1280, "height": 1000})
        finally:
            browser.close()


def _results(page) -> list[str]:
    page.wait_for_selector("#results .match, #error:visible", timeout=60_000)
    assert not page.is_visible("#error"), page.inner_text("#error")
    return page.eval_on_selector_all("#results .match", "cards => cards.map(c => c.dataset.image)")


def test_hold_to_talk_finds_the_spoken_caption(server: Server, spoken: tuple, tmp_path: Path) -> None:  # noqa: F811
    image_id, caption, audio = spoken
    microphone = tmp_path / "caption.wav"
    microphone.write_bytes(wav_bytes(audio))  # 16-bit mono PCM, as Chromium's fake capture wants
    with chromium_page(f"--use-file-for-fake-audio-capture={microphone}") as page:
        page.goto(server.url + "/")
        page.hover("#record")
        page.mouse.down()
        page.wait_for_function("document.getElementById('status').textContent === 'Listening...'", timeout=30_000)
        page.wait_for_timeout(int(1000 * audio.duration))  # as a person does: speak once the page listens
        page.mouse.up()
        found = _results(page)
        assert image_id in found[:5], (caption, found)
        assert "microphone.webm" in page.inner_text("#status") and " ms" in page.inner_text("#status")
        card = page.locator(f'.match[data-image="{image_id}"]')
        assert caption in card.inner_text()
        assert card.locator("img").evaluate("img => img.complete && img.naturalWidth > 0")
        if os.environ.get(SCREENSHOT_ENV):
            page.screenshot(path=os.environ[SCREENSHOT_ENV], full_page=True)


def test_typed_sentence_is_spoken_and_found(server: Server, dev_data: Prepared) -> None:  # noqa: F811
    """A caption whose typed query finds its image (this small model knows few in the --say voice)."""
    for image_id, caption, _ in spoken_captions(dev_data):
        status, result = search_json(server.url, {"say": caption, "k": 5})
        if image_id in [m["image_id"] for m in result["matches"]]:
            break
    else:
        pytest.fail("no typed caption finds its image")
    with chromium_page() as page:
        page.goto(server.url + "/")
        page.click("#saybutton")  # nothing typed yet: a readable error, not a crash
        page.wait_for_selector("#error:visible", timeout=30_000)
        assert "empty text" in page.inner_text("#error")
        page.fill("#say", caption)
        page.click("#saybutton")
        assert image_id in _results(page)[:5]
        assert page.get_attribute("#player", "src").startswith("data:audio/wav;base64,")
        page.wait_for_function("document.getElementById('player').duration > 1", timeout=10_000)
