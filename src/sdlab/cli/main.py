"""The `sdlab` command: a thin typed layer over the library."""

from __future__ import annotations

import typer

from sdlab.cli import demo, evaluate, exercise, generate, inspect, sweep, train, train_lora
from sdlab.cli.common import quiet_libraries

app = typer.Typer(
    name="sdlab", no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
    help="Stable Diffusion, reproducible and measurable: generate, img2img, inpaint, and more.",
)
app.command()(generate.generate)
app.command()(generate.img2img)
app.command()(generate.inpaint)
app.command()(inspect.samplers)
app.command()(inspect.models)
app.command()(inspect.info)
app.command()(inspect.loras)
app.command()(demo.demo)
app.command(name="train-base")(train.train_base)
app.command(name="train-lora")(train_lora.train_lora)
app.command()(sweep.sweep)
app.add_typer(evaluate.app, name="eval")
app.add_typer(exercise.app, name="exercise")


def main() -> None:
    quiet_libraries()
    app()


if __name__ == "__main__":
    main()
