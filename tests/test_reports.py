"""The HTML reports of export, verify, bench and eval, opened from a file in a real headless Chromium (Debian's
chromium and chromedriver, driven by Selenium): the tables and charts are in the rendered DOM, the console is
clean, no request leaves the file, and a screenshot is taken.

EDGEAUDIO_REPORT_SCREENSHOTS=FOLDER keeps the screenshots there.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from edgeaudio.cli import main

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver_path, "make test installs chromium and chromium-driver (Debian packages)"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}", "--window-size=1100,900"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})  # console, and the network log
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    try:
        yield driver
    finally:
        driver.quit()


@dataclass
class Page:
    """A report as the browser rendered it: the DOM (the driver), the console's errors and every request made."""

    driver: object
    errors: list[str]
    requests: list[str]

    def all(self, css: str) -> list:
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def text(self, css: str = "body") -> str:
        return "\n".join(e.text for e in self.all(css))


def load(driver, path: Path, screenshot: Path | None = None) -> Page:
    """Open `path` from the file system and collect what the browser logged while rendering it."""
    driver.get("about:blank")  # leave the previous page (and the start page's own chrome:// requests) behind
    driver.get_log("browser"), driver.get_log("performance")
    driver.get(path.resolve().as_uri())
    errors = [e["message"] for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    requests = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            requests.append(message["params"]["request"]["url"])
    if screenshot is not None:
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1100, min(height + 120, 12000))
        driver.save_screenshot(str(screenshot))
        driver.set_window_size(1100, 900)
        kept = os.environ.get("EDGEAUDIO_REPORT_SCREENSHOTS")
        if kept:
            Path(kept).mkdir(parents=True, exist_ok=True)
            shutil.copy(screenshot, Path(kept) / screenshot.name)
    return Page(driver, errors, requests)


def assert_self_contained(page: Page, path: Path) -> None:
    assert page.errors == [], page.errors
    assert page.requests == [path.resolve().as_uri()], page.requests  # the file itself, nothing else
    assert page.all("script") == [] and page.all("link") == [] and page.all("img") == []


def assert_screenshot(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000  # a rendered page of charts, not a blank one


def test_export_writes_its_report_beside_its_outputs_and_it_renders(exported, browser, tmp_path):
    folder = exported[0] / "int8"
    result = json.loads((exported[0] / "int8.json").read_text())
    report = folder / "events.report.html"
    page = load(browser, report, tmp_path / "report-export.png")
    assert_self_contained(page, report)
    assert_screenshot(tmp_path / "report-export.png")
    assert page.text(".verdict") == "PASS"
    bounded = sum(1 for s in result["chain"] for b in s["bounds"].values() for k in ("max_rel", "max_abs", "cosine") if b.get(k) is not None)
    assert len(page.all("#parity svg.errors circle")) == bounded  # one dot per bounded error, each within its bound
    assert len(page.all("#parity svg.errors circle.fail")) == 0
    assert len(page.all("#parity svg.errors path.floor")) >= 1  # the float steps' noise floors are drawn
    assert len(page.all("#parity tbody tr")) == sum(len(s["outputs"]) for s in result["chain"])
    assert all(s["step"] in page.text("#parity table") for s in result["chain"])
    sizes = page.all("#sizes tbody tr")
    assert len(sizes) == len(result["models"]) and len(page.all("#sizes svg.bars rect")) == len(result["models"])
    assert "events_int8.tflite" in page.text("#sizes") and "calibration samples" in page.text("#calibration")


def test_a_failed_export_s_report_says_what_failed_and_escapes_what_it_shows(exported, browser, tmp_path):
    from edgeaudio.report import write_report

    result = json.loads((exported[0] / "int8.json").read_text())
    step = result["chain"][-1]  # the int8 step as a failed gate leaves it: no file written
    step["outputs"][0]["cosine"] = 0.95
    step["failures"] = [f"{step['outputs'][0]['name']}: cosine 0.950000 < 0.99"]
    step["passed"] = result["passed"] = False
    result["models"] = []
    result["failure"] = f"checkpoint_best.pyth: export failed its parity gate, no model written: {step['step']}: {step['failures'][0]}"
    int8 = result["plan"][-1]  # and --calib-method auto tried the other range methods, none passing
    int8["tries"] = [{"method": m, "cosine": c, "agreement": a, "passed": False, "seconds": 1.5, "failures": [f"cosine {c} < 0.99"]}
                     for m, c, a in (("minmax", 0.95, 0.9), ("percentile", 0.97, 0.93), ("mse", 0.96, 0.92))]
    int8["calib_method_used"] = "percentile"
    result["warnings"].append("<script>document.title = 'injected'</script> & <b>bold</b>")
    path = write_report(tmp_path / "failed.html", "export", result)
    page = load(browser, path)
    assert_self_contained(page, path)
    assert page.text(".verdict") == "FAIL"
    assert len(page.all("#parity svg.errors circle.fail")) == 1
    assert "cosine 0.950000 < 0.99" in page.text("#parity ul") and "a gate failed, so the export wrote no model" in page.text("#sizes")
    assert "export failed its parity gate" in page.text("#summary ul.failures")
    assert len(page.all("#calibration svg.errors circle.fail")) == 3 and len(page.all("#calibration td.fail")) == 3
    assert [row.text.split()[1] for row in page.all("#calibration table:last-of-type tbody tr")] == ["minmax", "percentile", "mse"]
    assert "<script>document.title" in page.text("#warnings") and page.all("#warnings b") == []  # shown as text, not run
    assert "injected" not in browser.title


def test_verify_per_layer_report_draws_every_layer_by_its_pytorch_name(exported, browser, tmp_path):
    model = exported[0] / "int8" / "events_int8.tflite"
    report = tmp_path / "verify.html"
    assert main(["verify", str(model), "--per-layer", "--report", str(report), "--json", str(tmp_path / "v.json")]) == 0
    result = json.loads((tmp_path / "v.json").read_text())
    page = load(browser, report, tmp_path / "report-verify.png")
    assert_self_contained(page, report)
    assert_screenshot(tmp_path / "report-verify.png")
    assert page.text(".verdict") == "PASS"
    assert page.text("main > p.note code") == f"edgeaudio verify {model} --per-layer --json {tmp_path / 'v.json'} --report {report}"
    layers = result["per_layer"]
    assert len(page.all("#per-layer svg.bars rect")) == len(layers)
    assert len(page.all("#per-layer svg.bars rect.worst")) == min(5, len(layers))
    modules = {layer["module"] for layer in layers if layer["module"]}
    assert modules and all(m in page.text("#per-layer svg") or m[-20:] in page.text("#per-layer svg") for m in modules)
    assert len(page.all("#per-layer tbody tr")) == min(15, len(layers))
    assert page.all("#input-rounding svg.chart") and "int8 grid" in page.text("#input-rounding h2")


def test_a_tampered_model_fails_verify_and_its_report_shows_the_failure(exported, browser, tmp_path):
    from tests.test_export import _tamper_weights

    folder = exported[0] / "int8"
    bad = tmp_path / "events_int8.tflite"
    _tamper_weights(folder / "events_int8.tflite", bad)
    for name in ("events_int8.tflite.manifest.json", "events.expected.npz"):
        (tmp_path / name).write_bytes((folder / name).read_bytes())
    report = tmp_path / "tampered.html"
    assert main(["verify", str(bad), "--report", str(report)]) == 1
    page = load(browser, report)
    assert_self_contained(page, report)
    assert page.text(".verdict") == "FAIL"
    assert "sha256 differs from the manifest" in page.text("#parity ul")
    assert page.all("#parity svg.chart .fail") and page.all("#parity td.fail")


def test_bench_report_draws_latency_per_format_and_threads(exported, browser, tmp_path):
    folder = exported[0] / "int8"
    report = tmp_path / "bench.html"
    code = main(["bench", str(folder / "events_fp32.tflite"), str(folder / "events_int8.tflite"), "--threads", "1,2", "--runs", "3",
                 "--warmup", "1", "--in-process", "--report", str(report), "--json", str(tmp_path / "b.json")])
    assert code == 0
    rows = json.loads((tmp_path / "b.json").read_text())["rows"]
    page = load(browser, report, tmp_path / "report-bench.png")
    assert_self_contained(page, report)
    assert_screenshot(tmp_path / "report-bench.png")
    assert len(rows) == 4
    assert len(page.all("#latency svg.bars rect")) == 4 and len(page.all("#latency svg.bars line.mark")) == 8  # p90, p99 each
    assert len(page.all("#latency svg.bars rect.int8")) == 2 and len(page.all("#latency tbody tr")) == 4
    labels = page.text("#latency svg")
    assert "1 thr" in labels and "2 thr" in labels and "events_int8.tflite" in labels
    assert len(page.all("#sizes svg.bars")) == 2 and len(page.all("#sizes tbody tr")) == 2


def test_eval_report_shows_accuracy_with_intervals_and_the_confusion_matrices_asked_for(exported, labelled_clips, browser, tmp_path):
    models = [exported[0] / "onnx" / "events.onnx", exported[0] / "int8" / "events_int8.tflite"]
    report = tmp_path / "eval.html"
    code = main(["eval", *map(str, models), "--data", str(labelled_clips), "--report", str(report), "--confusion", str(tmp_path / "cm"),
                 "--json", str(tmp_path / "e.json")])
    assert code == 0
    result = json.loads((tmp_path / "e.json").read_text())
    page = load(browser, report, tmp_path / "report-eval.png")
    assert_self_contained(page, report)
    assert_screenshot(tmp_path / "report-eval.png")
    headline = page.all("#accuracy svg.intervals")[0]
    assert len(headline.find_elements("css selector", "circle")) == 2 and len(headline.find_elements("css selector", "line.whisker")) == 2
    assert len(page.all("#accuracy svg.heatmap")) == 2
    used = [i for i, row in enumerate(result["models"][0]["confusion"]) if sum(row) or sum(r[i] for r in result["models"][0]["confusion"])]
    assert len(page.all("#accuracy svg.heatmap")[0].find_elements("css selector", "rect")) == len(used) ** 2
    assert "broken.wav" in page.text("#accuracy")  # the unreadable clip is named
    top1 = result["models"][1]["metrics"]["top1"]
    assert f"{100 * top1['value']:.1f}% ({100 * top1['low']:.1f}%-{100 * top1['high']:.1f}%)" in page.text("#accuracy table")


def test_the_browser_checks_catch_a_page_that_reaches_out(exported, browser, tmp_path):
    """The checks above can fail: a report with an image from a server is blocked by its policy and the console
    says so; without the policy the request shows in the network log (127.0.0.1's discard port: nothing answers)."""
    from edgeaudio.report import render_report

    page_text = render_report("export", json.loads((exported[0] / "int8.json").read_text()))
    outside = '<img src="http://127.0.0.1:9/pixel.png" alt="">'
    blocked = tmp_path / "blocked.html"
    blocked.write_text(page_text.replace("<main>", "<main>" + outside))
    page = load(browser, blocked)
    assert any("Content Security Policy" in e for e in page.errors), page.errors
    open_page = tmp_path / "open.html"
    open_page.write_text(page_text.replace('<meta http-equiv="Content-Security-Policy"', '<meta name="no-policy"').replace("<main>", "<main>" + outside))
    page = load(browser, open_page)
    assert "http://127.0.0.1:9/pixel.png" in page.requests
