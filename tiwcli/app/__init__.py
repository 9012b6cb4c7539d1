"""`tiw app`: the web page (Gradio), thin over the same library calls as `tiw animate`.

jobs.py   one animation from uploaded files: the CLI's checks and pipeline (inference.jobs),
          the model kept loaded between jobs, progress per stage, a cancel flag
page.py   the Gradio page and its `/animate` API endpoint; the only module importing gradio
"""
