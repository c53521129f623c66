"""The route walk's world (route_walk.py), a fixture for every test of the API that walks it,
and the images it is copied from (built once per process and database kind)."""

from route_walk import world as world
from route_walk import world_images as world_images
