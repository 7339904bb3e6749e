# A class in classes/ (searched after classes-recipe/).
PLAIN_CLASS = "from classes/"
