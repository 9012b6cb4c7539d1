"""`tiw app` in a real headless Chromium (Debian's chromium and chromium-driver, driven by Selenium):
upload, press Animate, get a playable video with the CLI's frame count; bad input shows the CLI's
message and the page still works. The first test takes a screenshot of the page; with
TIW_UPDATE_SCREENSHOT=1 it is saved as docs/app.md's docs/app.png (a plain run leaves the tree clean)."""

from __future__ import annotations

import os
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("gradio", reason='tiw app needs Gradio: pip install -e ".[app]"')
webdriver = pytest.importorskip(
    "selenium.webdriver", reason='the browser test needs Selenium: pip install -e ".[test]"'
)

from selenium.webdriver.common.by import By  # noqa: E402 (after the skips)
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "app.png"
JOB_SECONDS = 300  # a job on the 8-frame clip takes seconds; a busy CI machine gets room
PLAYABLE = """const video = document.querySelector('#result video');
return video && video.currentSrc && !video.error && video.readyState >= 2 ? video.currentSrc : null;"""


def chromium_paths() -> tuple[str, str] | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver") or (
        "/usr/lib/chromium/chromedriver" if Path("/usr/lib/chromium/chromedriver").exists() else None
    )
    return (browser, driver) if browser and driver else None


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    paths = chromium_paths()
    if paths is None:
        pytest.skip(
            "no Chromium here: `apt-get install chromium chromium-driver` (make setup does it as root)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = paths[0]
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1300"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=paths[1]), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def open_page(browser, url: str) -> None:
    browser.get(url)
    WebDriverWait(browser, 60).until(lambda page: page.find_elements(By.CSS_SELECTOR, "#animate"))


def upload(browser, elem_id: str, path: Path) -> None:
    """Give a file to a component's file input, and wait until the component shows it."""
    browser.find_element(By.CSS_SELECTOR, f"#{elem_id} input[type=file]").send_keys(str(path))
    if elem_id == "driving":
        WebDriverWait(browser, 60).until(lambda page: page.find_elements(By.CSS_SELECTOR, "#driving video"))
    else:
        WebDriverWait(browser, 60).until(
            lambda page: path.stem in page.find_element(By.CSS_SELECTOR, f"#{elem_id}").text
        )


def animate(browser, photo: Path, clip: Path) -> None:
    upload(browser, "source", photo)
    upload(browser, "driving", clip)
    browser.find_element(By.CSS_SELECTOR, "#animate").click()


def error_text(browser) -> str:
    """The text of the error toast, once one shows."""

    def shown(page) -> str:  # the toast's box can show a moment before its text does
        return " ".join(
            toast.text for toast in page.find_elements(By.CSS_SELECTOR, "[data-testid=toast-body]")
        ).strip()

    return WebDriverWait(browser, JOB_SECONDS).until(shown)


def result_video(browser, tmp_path: Path) -> Path:
    """Wait until the result <video> has a frame to show (playable), and download its file."""
    source = WebDriverWait(browser, JOB_SECONDS).until(lambda page: page.execute_script(PLAYABLE))
    path = tmp_path / "result.mp4"
    with urllib.request.urlopen(source, timeout=60) as response:
        path.write_bytes(response.read())
    return path


def test_page_animates_the_sample_photo(
    browser, app_url, app_inputs, face_photo, cli_frames, count_frames, tmp_path
):
    open_page(browser, app_url)
    animate(browser, face_photo, app_inputs / "clip.mp4")
    video = result_video(browser, tmp_path)
    assert count_frames(video) == cli_frames
    WebDriverWait(browser, 60).until(
        lambda page: page.execute_script("return document.querySelector('#preview video')?.readyState >= 2")
    )
    assert "frames" in browser.find_element(By.CSS_SELECTOR, "#summary").text
    height = browser.execute_script("return document.body.scrollHeight")
    browser.set_window_size(1400, max(1000, min(height + 140, 2400)))  # the whole page, if it fits
    browser.execute_script("window.scrollTo(0, 0)")
    target = SCREENSHOT if os.environ.get("TIW_UPDATE_SCREENSHOT") == "1" else tmp_path / "app.png"
    assert browser.save_screenshot(str(target))
    assert target.stat().st_size > 10_000


@pytest.mark.parametrize(
    ("photo", "message"),
    [
        ("not-a-photo.jpg", "not-a-photo.jpg: not a readable image (UnidentifiedImageError)"),
        ("grey.jpg", "grey.jpg: no face found"),
    ],
)
def test_bad_photo_shows_the_cli_message_and_the_page_still_works(
    browser, app_url, app_inputs, face_photo, photo, message, count_frames, cli_frames, tmp_path
):
    open_page(browser, app_url)
    animate(browser, app_inputs / photo, app_inputs / "clip.mp4")
    assert message in error_text(browser)
    browser.find_element(By.CSS_SELECTOR, "[data-testid=toast-close]").click()
    browser.find_element(By.CSS_SELECTOR, "#source button[aria-label='Clear']").click()
    upload(browser, "source", face_photo)
    browser.find_element(By.CSS_SELECTOR, "#animate").click()
    assert count_frames(result_video(browser, tmp_path)) == cli_frames
