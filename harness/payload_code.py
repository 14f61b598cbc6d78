"""Payload expressions read without ``eval``: the one-line Python expressions reproducers carry.

:func:`payload_of` walks the expression's syntax tree and admits only what payload code is made of (what
:meth:`harness.strategies.PayloadSpec.code` and the checks write): byte and string literals, whole numbers,
``+``, ``-``, ``*``, ``//``, slices ``[A:B]``, ``bytes(N)``, ``bytes(range(A[, B]))``,
``random.Random(S).randbytes(N)`` and ``'...'.encode()``. Nothing else runs, and nothing bigger than
:data:`MAX_BYTES` is built.
"""

from __future__ import annotations

import ast
import random

#: the most bytes one expression may build
MAX_BYTES = 1 << 30


def payload_of(code: str) -> bytes:
    """The bytes ``code`` stands for, exactly what ``eval(code, {"random": random})`` would give, computed
    without evaluating anything; :class:`ValueError` (one line) for code outside the language above."""
    reader = _Reader(code)
    try:
        tree = ast.parse(code.strip(), mode="eval")
    except SyntaxError as exc:
        raise reader.refuse(f"syntax error: {exc.msg}") from None
    payload = reader.value(tree.body)
    if not isinstance(payload, bytes):
        raise reader.refuse(f"it makes a {type(payload).__name__}, not bytes")
    return payload


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _Reader:
    """The tree walk of :func:`payload_of`."""

    def __init__(self, code: str) -> None:
        self.code = code

    def refuse(self, why: str) -> ValueError:
        shown = self.code if len(self.code) <= 80 else self.code[:77] + "..."
        return ValueError(f"not a payload expression ({why}): {shown!r}")

    def size(self, n: object) -> int:
        if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= MAX_BYTES:
            raise self.refuse(f"a size must be a whole number from 0 to {MAX_BYTES}, got {n!r}")
        return n

    def index(self, node: ast.expr | None) -> int | None:
        if node is None:
            return None
        bound = self.value(node)
        if not isinstance(bound, int) or not _is_int(bound):
            raise self.refuse("a slice bound must be a whole number")
        return bound

    def value(self, node: ast.expr) -> object:
        if isinstance(node, ast.Constant) and (isinstance(node.value, bytes | str) or _is_int(node.value)):
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            operand = self.value(node.operand)
            if isinstance(operand, int) and _is_int(operand):
                return -operand
        if isinstance(node, ast.BinOp):
            return self.binary(node)
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice) and node.slice.step is None:
            data = self.value(node.value)
            if isinstance(data, bytes):
                return data[self.index(node.slice.lower) : self.index(node.slice.upper)]
        if isinstance(node, ast.Call) and not node.keywords:
            return self.call(node)
        raise self.refuse(f"{type(node).__name__} is not allowed here")

    def binary(self, node: ast.BinOp) -> object:
        left, right = self.value(node.left), self.value(node.right)
        if isinstance(left, bytes) and isinstance(right, bytes) and isinstance(node.op, ast.Add):
            self.size(len(left) + len(right))
            return left + right
        if isinstance(left, int) and isinstance(right, int):
            if isinstance(node.op, ast.Add):
                return left + right
            if isinstance(node.op, ast.Sub):
                return left - right
            if isinstance(node.op, ast.Mult):
                return left * right
            if isinstance(node.op, ast.FloorDiv) and right:
                return left // right
        if isinstance(node.op, ast.Mult):
            data, times = (left, right) if isinstance(left, bytes) else (right, left)
            if isinstance(data, bytes) and isinstance(times, int):
                self.size(len(data) * max(0, times))
                return data * times
        raise self.refuse(f"{type(node.op).__name__} of {type(left).__name__} and {type(right).__name__}")

    def call(self, node: ast.Call) -> object:
        func, args = node.func, [self.value(a) for a in node.args]
        if isinstance(func, ast.Name) and func.id == "bytes" and len(args) == 1:
            if isinstance(args[0], range):
                return bytes(args[0])  # range() admits only 0..256
            return bytes(self.size(args[0]))
        bounds = [a for a in args if isinstance(a, int) and _is_int(a) and 0 <= a <= 256]
        if isinstance(func, ast.Name) and func.id == "range" and 1 <= len(args) <= 2 and len(bounds) == len(args):
            return range(*bounds)
        if isinstance(func, ast.Attribute) and func.attr == "encode" and not args:
            text = self.value(func.value)
            if isinstance(text, str):
                return text.encode()
        if isinstance(func, ast.Attribute) and func.attr == "randbytes" and len(args) == 1:
            maker = func.value
            if (
                isinstance(maker, ast.Call)
                and not maker.keywords
                and len(maker.args) == 1
                and isinstance(maker.func, ast.Attribute)
                and maker.func.attr == "Random"
                and isinstance(maker.func.value, ast.Name)
                and maker.func.value.id == "random"
            ):
                seed = self.value(maker.args[0])
                if isinstance(seed, int | str | bytes):
                    return random.Random(seed).randbytes(self.size(args[0]))
        raise self.refuse("calls other than bytes(N), bytes(range(A, B)), random.Random(S).randbytes(N), .encode()")
