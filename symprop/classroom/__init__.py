"""A class set: per-student variants of a spec's worked example, their worksheets and answer
keys, and the grading of what the students hand in.

``roster`` reads the class list, ``variants`` draws each student's numbers, ``questions``
says what is asked (a small YAML, or the exercises plan), ``key`` answers it at a variant
with every intermediate value and ``mistakes`` the typical wrong answers, ``sheets`` writes
the worksheets, answer keys and the class answer sheet, ``submissions`` reads what students
hand in, ``grading`` marks it and writes the gradebook and feedback, ``moodle`` exports a
quiz, ``cli`` is ``symprop classroom`` and ``symprop grade``.
"""
