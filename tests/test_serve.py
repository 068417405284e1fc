"""The search service: the saved index it loads, the JSON API (bad requests included) and the page,
driven in headless Chromium against a real uvicorn server on a free loopback port."""

from __future__ import annotations

import io
import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deephash.errors import DeephashError
from deephash.search import HammingIndex
from deephash.service import SearchService, open_index

ROOT = Path(__file__).resolve().parents[1]


def png(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels).save(out, format="PNG")
    return out.getvalue()


def test_index_with_ids_and_labels_round_trips_memory_mapped(trained, tmp_path, capsys):
    root, _ = trained
    built = open_index(root / "codes.h5", tmp_path / "index")
    assert (tmp_path / "index" / "ids.npy").exists() and built.source is not None
    loaded = open_index(root / "codes.h5", tmp_path / "index")  # the saved one: built from this file
    assert isinstance(loaded.words.base, np.memmap) and isinstance(loaded.ids.base, np.memmap)
    assert loaded.source == built.source and capsys.readouterr().err == ""
    np.testing.assert_array_equal(loaded.ids, built.ids)
    np.testing.assert_array_equal(loaded.labels, built.labels)
    queries = np.random.default_rng(0).integers(0, 256, (9, 2), dtype=np.uint8)
    for k in (1, 7, 35):
        a, b = built.search(queries, k), loaded.search(queries, k)
        np.testing.assert_array_equal(a.indices, b.indices)
        np.testing.assert_array_equal(a.distances, b.distances)
    assert loaded.item_id(0) == "img5" and loaded.find("img7") == 2 and loaded.find("img") is None
    assert [loaded.find(f"img{i}") for i in range(5, 40)] == list(range(35))
    # another codes file: the saved index is not its own, so it is rebuilt (with a note) and replaced
    other = HammingIndex.from_codes_file(root / "codes.h5")
    other.source = "sha256:0"
    other.save(tmp_path / "stale")
    again = open_index(root / "codes.h5", tmp_path / "stale")
    assert "was not built from" in capsys.readouterr().err
    assert HammingIndex.load(tmp_path / "stale").source == again.source == built.source
    np.save(tmp_path / "index" / "ids.npy", np.zeros(3, "S4"))
    with pytest.raises(DeephashError, match=r"index: 3 ids for 35 codes"):
        HammingIndex.load(tmp_path / "index")


@pytest.fixture(scope="module")
def service(trained) -> SearchService:
    root, _ = trained
    return SearchService(root / "codes.h5", root / "model", root / "cache", k=5)


@pytest.fixture(scope="module")
def client(service):
    from fastapi.testclient import TestClient

    from deephash.web import create_app

    return TestClient(create_app(service))


def test_search_by_id_and_by_image(client, trained):
    _, images = trained
    body = client.get("/search", params={"id": "img5", "k": 4}).json()
    assert body["results"][0]["id"] == "img5" and len(body["results"]) == 4
    distances = [r["distance"] for r in body["results"]]
    assert distances == sorted(distances) and distances[0] == 0 and body["ms"] >= 0
    assert body["query"] == {"id": "img5", "part": "database", "labels": body["results"][0]["labels"]}
    assert body["results"][0]["labels"] and set(body["results"][0]["labels"]) <= set("abcd")
    query = client.get("/search", params={"id": "img2"}).json()  # a query-group id; the default k
    assert query["query"]["part"] == "query" and len(query["results"]) == 5
    # an upload is encoded as the pipeline encodes the cached image: the same code, so the same answer
    upload = client.post("/search", files={"image": ("q.png", png(images[5]), "image/png")}, data={"k": "4"}).json()
    assert upload["results"] == body["results"]
    assert client.get("/thumbnail", params={"id": "img5"}).content == png(images[5])
    page = client.get("/")
    assert page.status_code == 200 and 'id="gallery"' in page.text
    assert client.get("/info").json()["upload"] is True


@pytest.mark.parametrize(
    ("request_args", "status", "reason"),
    [
        ({"method": "GET", "url": "/search", "params": {"id": "nope"}}, 404, "no query or database item has the id"),
        ({"method": "GET", "url": "/search", "params": {"id": "img5", "k": 0}}, 400, "k must be an integer in 1..35"),
        ({"method": "GET", "url": "/search", "params": {"id": "img5", "k": 36}}, 400, "1..35, got 36"),
        ({"method": "GET", "url": "/search", "params": {"id": "img5", "k": "ten"}}, 400, "got 'ten'"),
        ({"method": "GET", "url": "/search"}, 400, "id: Field required"),
        ({"method": "POST", "url": "/search", "files": {"image": ("x.png", b"not a png", "image/png")}}, 400,
         "not an image: unreadable or truncated image"),
        ({"method": "POST", "url": "/search", "data": {"k": "3"}}, 400, "expected a multipart field 'image'"),
        ({"method": "GET", "url": "/thumbnail", "params": {"id": "nope"}}, 404, "no query or database item"),
    ],
)  # fmt: skip
def test_bad_requests_get_a_one_line_reason(client, request_args, status, reason):
    response = client.request(**request_args)
    assert response.status_code == status
    detail = response.json()["detail"]
    assert reason in detail and "\n" not in detail
    assert client.get("/search", params={"id": "img5", "k": 1}).status_code == 200  # still serving


def test_service_without_model_or_cache(trained, tmp_path):
    from fastapi.testclient import TestClient

    from deephash.web import create_app

    root, images = trained
    client = TestClient(create_app(SearchService(root / "codes.h5")))
    response = client.post("/search", files={"image": ("q.png", png(images[5]), "image/png")})
    assert response.status_code == 400 and "no model" in response.json()["detail"]
    assert client.get("/thumbnail", params={"id": "img5"}).status_code == 404
    with pytest.raises(DeephashError, match="the cache holds 40 images but the codes file's query has 5"):
        cache = tmp_path / "cache"
        cache.mkdir()
        np.save(cache / "query.npy", images)
        np.save(cache / "database.npy", images)
        SearchService(root / "codes.h5", cache=cache)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(service):
    """The app under a real uvicorn server in a thread of this process, on a free loopback port."""
    import uvicorn

    from deephash.web import create_app

    port = free_port()
    instance = uvicorn.Server(uvicorn.Config(create_app(service), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not instance.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    instance.should_exit = True
    thread.join(10)


def chromium_driver():  # type: ignore[no-untyped-def]
    """Selenium driving Debian's headless chromium through its chromedriver (both from apt)."""
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver") or "/usr/lib/chromium/chromedriver"
    if browser is None or not Path(driver).exists():
        pytest.skip("chromium and chromium-driver are not installed (.ci/run installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1100,520",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


def test_page_in_headless_chromium(server, trained, tmp_path):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    _, images = trained
    picture = tmp_path / "query.png"
    Image.fromarray(images[5, :, :, 0]).save(picture)  # item img5's own picture, at the cached size
    browser = chromium_driver()

    def wait(condition):  # type: ignore[no-untyped-def]
        """Until ``condition(browser)`` holds; the page replaces its elements as results arrive."""
        WebDriverWait(browser, 20, ignored_exceptions=(StaleElementReferenceException,)).until(condition)

    try:
        browser.get(server + "/")
        wait(lambda b: "database codes" in b.find_element(By.ID, "about").text)
        k = browser.find_element(By.ID, "k")
        k.clear()
        k.send_keys("6")
        browser.find_element(By.ID, "image").send_keys(str(picture))
        browser.find_element(By.CSS_SELECTOR, "#by-image button[type=submit]").click()
        wait(lambda b: "results" in b.find_element(By.ID, "status").text)
        captions = [f.text.splitlines() for f in browser.find_elements(By.CSS_SELECTOR, "#gallery figure")]
        assert len(captions) == 6
        assert captions[0][:2] == ["1. img5", "d = 0"]
        assert "ms on the server" in browser.find_element(By.ID, "status").text
        browser.save_screenshot(str(tmp_path / "upload.png"))

        browser.find_element(By.ID, "query-id").send_keys("img1")
        browser.find_element(By.CSS_SELECTOR, "#by-id button[type=submit]").click()
        wait(lambda b: b.find_element(By.CSS_SELECTOR, "#query figure").text.startswith("img1"))
        figures = browser.find_elements(By.CSS_SELECTOR, "#gallery figure")
        assert len(figures) == 6 and all(f.get_attribute("class") in ("relevant", "irrelevant") for f in figures)
        browser.save_screenshot(str(tmp_path / "by_id.png"))
    finally:
        browser.quit()
    assert Image.open(tmp_path / "upload.png").size[0] > 0


def test_serve_command_bad_input_is_one_line(trained, tmp_path, capsys):
    from deephash.cli import main

    root, _ = trained
    assert main(["serve", "--codes", str(tmp_path / "none.h5"), "--cache", ""]) == 2
    assert f"deephash: {tmp_path / 'none.h5'}: codes file not found" in capsys.readouterr().err
    assert main(["serve", "--codes", str(root / "codes.h5"), "--cache", str(tmp_path)]) == 2
    assert f"deephash: {tmp_path}: no database.npy in the image cache" in capsys.readouterr().err
    assert main(["serve", "--codes", str(root / "codes.h5"), "--model", str(tmp_path), "--cache", ""]) == 2
    assert "model directory has no config.json" in capsys.readouterr().err
    assert main(["export-model", "--model", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "model directory has no config.json" in capsys.readouterr().err
