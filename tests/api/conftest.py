"""The route walk's world (route_walk.py), a fixture for every test of the API that walks it."""

from route_walk import world as world
