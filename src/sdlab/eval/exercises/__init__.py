"""The seeds' exercises as recipes: a sweep, a table, a plot and the answer, written up as report.md.

- guidance: where do artefacts appear as the guidance scale rises, and where is adherence best?
- strength: which img2img strength keeps the input's composition while following the prompt?
- lora: which LoRA rank and training steps keep the subject's identity without over-fitting?
"""

from sdlab.eval.exercises.guidance import guidance_exercise
from sdlab.eval.exercises.lora import lora_exercise
from sdlab.eval.exercises.report import Exercise, summarise
from sdlab.eval.exercises.strength import strength_exercise

__all__ = ["Exercise", "guidance_exercise", "lora_exercise", "strength_exercise", "summarise"]
