"""The Messages API sandbox: exercises in lessons, request rules, simulator, grader, attempts."""
