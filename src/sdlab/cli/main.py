"""The `sdlab` command: a thin typed layer over the library."""

from __future__ import annotations

import typer

from sdlab.cli import demo, evaluate, exercise, generate, inspect, serve, sweep, train, train_lora
from sdlab.cli.common import quiet_libraries
from sdlab.cli.errors import SdlabCommand, SdlabGroup

app = typer.Typer(
    name="sdlab", cls=SdlabGroup, no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
    help="Stable Diffusion, reproducible and measurable: generate, img2img, inpaint, and more. "
         "Add --debug anywhere to see a traceback instead of the one-line error.",
)
for name, function in (("generate", generate.generate), ("img2img", generate.img2img), ("inpaint", generate.inpaint),
                       ("samplers", inspect.samplers), ("models", inspect.models), ("info", inspect.info),
                       ("loras", inspect.loras), ("demo", demo.demo), ("train-base", train.train_base),
                       ("train-lora", train_lora.train_lora), ("sweep", sweep.sweep), ("serve", serve.serve)):
    app.command(name=name, cls=SdlabCommand)(function)
app.add_typer(evaluate.app, name="eval")
app.add_typer(exercise.app, name="exercise")


def main() -> None:
    quiet_libraries()
    app()


if __name__ == "__main__":
    main()
