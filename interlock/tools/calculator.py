"""calculator: exact arithmetic as a LangChain tool.

Small models get arithmetic wrong; a tool gets it right. The expression is
parsed with ``ast`` and only numbers and arithmetic operators are evaluated,
so user text can never run code.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable

from langchain_core.tools import tool

_BINARY: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[float], float]] = {
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}
MAX_EXPONENT = 100


def evaluate(expression: str) -> float:
    """Evaluate +, -, *, /, //, %, ** over numbers; raise ValueError on anything else."""

    def walk(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return float(node.value)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left, right = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
                raise ValueError("exponent too large")
            return _BINARY[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](walk(node.operand))
        raise ValueError(f"unsupported expression element: {type(node).__name__}")

    try:
        return walk(ast.parse(expression.strip(), mode="eval"))
    except (SyntaxError, ZeroDivisionError) as exc:
        raise ValueError(f"cannot evaluate {expression!r}: {exc}") from None


@tool
def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression such as '(17 + 3) * 2.5' exactly."""
    try:
        value = evaluate(expression)
    except ValueError as exc:
        return f"error: {exc}"
    return str(int(value)) if value.is_integer() else str(value)
